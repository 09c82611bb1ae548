//! The driver catalog: imports from folders and archives as jobs, per-INF results, filters,
//! edits and deletes; driver lists of boot images and injection into new revisions.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use domain::{
    Actor, Config, Domain, Error,
    boot::defaults::UPDATE_DEFAULTS,
    catalog::{ImageKind, kinds::ImportRequest},
    drivers::{
        catalog::DriverFilter, import::DriverImportRequest, inf::DriverArch, signing::Signature,
    },
    fixtures::{
        self, Arch, WinPeRelease, WindowsTree,
        drivers::{CatalogState, DriverPackage, cab_folder, hostile_archives, zip_folder},
    },
    jobs::{Job, JobFilter, JobState, NewJob, PageCursor, Runner},
    testing::{BACKENDS, Backend, ManualClock, TestDb, fast_runner_options, wait_until_final},
    wim::{Monitor, WimBackend, Wimlib},
};

mod corpus;

const LONG: Duration = Duration::from_secs(60);

struct Setup {
    domain: Domain,
    runner: Option<Runner>,
    admin: Actor,
    analyst: Actor,
    root: PathBuf,
    _db: TestDb,
    _root_dir: tempfile::TempDir,
}

impl Setup {
    async fn new(backend: Backend) -> Self {
        Self::with_config(backend, |_, _| {}).await
    }

    /// A setup whose configuration `configure` adjusts, given the source root.
    async fn with_config(backend: Backend, configure: impl FnOnce(&mut Config, &Path)) -> Self {
        let db = TestDb::create(backend).await;
        let root_dir = tempfile::tempdir().expect("tempdir");
        let root = root_dir.path().join("sources");
        std::fs::create_dir_all(&root).expect("root");
        let mut config = db.config();
        config.images.source_roots = vec![root.clone()];
        configure(&mut config, &root);
        let clock = ManualClock::starting_at(crate::T0);
        let domain = Domain::open_with_clock(&config, Arc::new(clock))
            .await
            .expect("open");
        let (admin, analyst) = crate::osd_and_analyst(&domain).await;
        let runner = Some(Runner::start(&domain, fast_runner_options()));
        Self {
            admin,
            analyst,
            domain,
            runner,
            root,
            _db: db,
            _root_dir: root_dir,
        }
    }

    async fn import(&self, source: &Path, categories: &[&str]) -> Job {
        let id = self
            .domain
            .for_actor(&self.admin)
            .drivers()
            .import(DriverImportRequest {
                source: source.display().to_string(),
                name: None,
                categories: categories.iter().map(|c| c.to_string()).collect(),
            })
            .await
            .expect("queued");
        wait_until_final(&self.domain, id, LONG).await
    }

    async fn list(&self, filter: DriverFilter) -> Vec<String> {
        self.domain
            .for_actor(&self.analyst)
            .drivers()
            .list(&filter)
            .await
            .expect("list")
            .drivers
            .into_iter()
            .map(|d| d.inf_name)
            .collect()
    }

    async fn stop(mut self) {
        if let Some(runner) = self.runner.take() {
            runner.shutdown().await;
        }
    }
}

fn outcomes(job: &Job) -> Vec<(String, String)> {
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    job.result.as_ref().expect("result")["drivers"]
        .as_array()
        .expect("drivers")
        .iter()
        .map(|d| {
            (
                d["inf"].as_str().expect("inf").to_owned(),
                d["outcome"].as_str().expect("outcome").to_owned(),
            )
        })
        .collect()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                out.extend(files_under(&entry.path()));
            } else {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn driver_packages_are_imported_with_a_result_per_inf_and_can_be_found() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        // A vendor folder: a network driver, a display driver, an INF with a syntax error and
        // one whose binary is missing.
        let vendor = s.root.join("Contoso LAN");
        DriverPackage::network("e1d", &[Arch::Amd64, Arch::Arm64])
            .write(&vendor)
            .expect("net");
        DriverPackage::display("nwgfx", &[Arch::Amd64])
            .write(&vendor.join("display"))
            .expect("display");
        std::fs::create_dir_all(vendor.join("broken")).expect("dir");
        std::fs::write(
            vendor.join("broken/broken.inf"),
            "[Version]\r\nSignature = \"$WINDOWS NT$\"\r\nClass = Net\r\n[Manufacturer\r\n",
        )
        .expect("broken");
        let mut lonely = DriverPackage::storage("lonely", &[Arch::Amd64]);
        lonely.catalog = CatalogState::None;
        lonely.write(&vendor.join("lonely")).expect("lonely");
        std::fs::remove_file(vendor.join("lonely/amd64/lonelyamd64.sys")).expect("rm");

        let job = s.import(&vendor, &["Lab"]).await;
        assert_eq!(
            outcomes(&job),
            [
                ("broken/broken.inf".to_owned(), "rejected".to_owned()),
                ("display/nwgfx.inf".to_owned(), "imported".to_owned()),
                ("e1d.inf".to_owned(), "imported".to_owned()),
                ("lonely/lonely.inf".to_owned(), "rejected".to_owned()),
            ]
        );
        let result = job.result.as_ref().expect("result");
        let reasons: Vec<&str> = result["drivers"]
            .as_array()
            .expect("drivers")
            .iter()
            .filter_map(|d| d["reason"].as_str())
            .collect();
        assert!(reasons[0].starts_with("line 4:"), "{reasons:?}");
        assert_eq!(
            reasons[1],
            "files the INF needs are not in the package: amd64/lonelyamd64.sys"
        );

        // A storage driver zipped (with a tampered binary: unsigned), and the vendor folder
        // again as a cabinet: its drivers are duplicates.
        let storage_dir = s.root.join(".storage");
        let mut storage = DriverPackage::storage("iaStorVD", &[Arch::X86, Arch::Amd64]);
        storage.catalog = CatalogState::Tampered;
        storage.write(&storage_dir).expect("storage");
        zip_folder(&storage_dir, &s.root.join("storage.zip")).expect("zip");
        assert_eq!(
            outcomes(&s.import(&s.root.join("storage.zip"), &[]).await),
            [("iaStorVD.inf".to_owned(), "imported".to_owned())]
        );
        cab_folder(&vendor, &s.root.join("contoso.cab")).expect("cab");
        let again = s.import(&s.root.join("contoso.cab"), &["Production"]).await;
        assert_eq!(
            outcomes(&again)
                .iter()
                .filter(|(_, o)| o == "duplicate")
                .count(),
            2
        );

        let all = s.list(DriverFilter::default()).await;
        assert_eq!(all.len(), 3, "{all:?}");
        let e1d = s
            .domain
            .for_actor(&s.analyst)
            .drivers()
            .list(&DriverFilter {
                text: Some("GIGABIT".into()),
                ..Default::default()
            })
            .await
            .expect("list")
            .drivers
            .remove(0);
        assert_eq!(e1d.inf_name, "e1d.inf");
        assert_eq!(e1d.class, "Net");
        assert_eq!(e1d.provider, "Contoso Networks");
        assert_eq!(e1d.version, "12.19.2.60");
        assert_eq!(e1d.date.as_deref(), Some("2024-06-21"));
        assert_eq!(e1d.architectures, [DriverArch::Amd64, DriverArch::Arm64]);
        assert_eq!(e1d.categories, ["Lab", "Production"]);
        assert_eq!(
            e1d.signature,
            Signature::Signed {
                signer: "Contoso Networks".into(),
                catalog: "e1d.cat".into()
            }
        );
        assert_eq!(e1d.files.len(), 4);
        for file in &e1d.files {
            assert!(e1d.store_path.join(file).is_file(), "{file}");
        }

        let by = |f: DriverFilter| s.list(f);
        assert_eq!(
            by(DriverFilter {
                architecture: Some(DriverArch::X86),
                ..Default::default()
            })
            .await,
            ["iaStorVD.inf"]
        );
        assert_eq!(
            by(DriverFilter {
                boot_critical: true,
                ..Default::default()
            })
            .await,
            ["e1d.inf", "iaStorVD.inf"]
        );
        assert_eq!(
            by(DriverFilter {
                signed: Some(false),
                ..Default::default()
            })
            .await,
            ["iaStorVD.inf"]
        );
        assert_eq!(
            by(DriverFilter {
                category: Some("Lab".into()),
                class: Some("display".into()),
                ..Default::default()
            })
            .await,
            ["nwgfx.inf"]
        );
        assert_eq!(
            by(DriverFilter {
                text: Some("ven_1d79".into()),
                ..Default::default()
            })
            .await,
            ["iaStorVD.inf"]
        );
        assert!(
            by(DriverFilter {
                text: Some("%".into()),
                ..Default::default()
            })
            .await
            .is_empty()
        );

        // Edits: optimistic locking, disabled drivers filter out, categories replace.
        let drivers = s.domain.for_actor(&s.admin).drivers();
        drivers
            .set_enabled(e1d.id, false, e1d.row_version)
            .await
            .expect("disable");
        assert!(matches!(
            drivers.set_enabled(e1d.id, true, e1d.row_version).await,
            Err(Error::Conflict(_))
        ));
        assert_eq!(
            by(DriverFilter {
                enabled: Some(false),
                ..Default::default()
            })
            .await,
            ["e1d.inf"]
        );
        drivers
            .set_categories(
                e1d.id,
                &["Dell".into(), " Lab ".into()],
                e1d.row_version + 1,
            )
            .await
            .expect("categorize");
        assert_eq!(
            s.domain
                .for_actor(&s.admin)
                .drivers()
                .categories()
                .await
                .expect("cats"),
            ["Dell", "Lab", "Production"]
        );
        assert!(matches!(
            drivers
                .set_categories(e1d.id, &["\u{7}".into()], e1d.row_version + 2)
                .await,
            Err(Error::InvalidInput { .. })
        ));

        // The analyst reads but changes nothing.
        let reader = s.domain.for_actor(&s.analyst).drivers();
        assert!(matches!(
            reader.delete(e1d.id, e1d.row_version + 2).await,
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            reader
                .import(DriverImportRequest {
                    source: vendor.display().to_string(),
                    ..Default::default()
                })
                .await,
            Err(Error::Forbidden(_))
        ));

        // Deleting removes the row and the files.
        let store_path = e1d.store_path.clone();
        drivers
            .delete(e1d.id, e1d.row_version + 2)
            .await
            .expect("delete");
        assert!(!store_path.exists());
        assert!(matches!(drivers.get(e1d.id).await, Err(Error::NotFound(_))));
        s.stop().await;
    }
}

#[tokio::test]
async fn hostile_and_foreign_packages_are_refused_and_change_nothing() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let hostile = hostile_archives(&s.root.join("hostile")).expect("fixtures");
        let store = domain::drivers::catalog::drivers_dir(&s.domain);
        for (archive, expected) in [
            (&hostile.zip_slip, "which would land outside the package"),
            (&hostile.symlink, "a symbolic link"),
            (&hostile.bomb, "decompression bomb"),
            (&hostile.many_entries, "more than 20000 entries"),
            (&hostile.truncated, "the archive cannot be read"),
        ] {
            let job = s.import(archive, &[]).await;
            assert_eq!(job.state, JobState::Failed, "{}", archive.display());
            let error = job.error.unwrap_or_default();
            assert!(error.contains(expected), "{}: {error}", archive.display());
        }
        // Refused before a job is queued: not a package, outside the roots.
        let drivers = s.domain.for_actor(&s.admin).drivers();
        for (source, expected) in [
            (
                hostile.not_an_archive.display().to_string(),
                "is not a folder, a .zip or a .cab file",
            ),
            ("/etc".to_owned(), "outside the folders images"),
            (format!("{}/../..", s.root.display()), "contains '..'"),
        ] {
            let err = drivers
                .import(DriverImportRequest {
                    source,
                    ..Default::default()
                })
                .await
                .expect_err("refused");
            assert!(err.to_string().contains(expected), "{err}");
        }
        assert!(s.list(DriverFilter::default()).await.is_empty());
        assert!(drivers.packages().await.expect("packages").is_empty());
        assert!(files_under(&store).is_empty(), "{:?}", files_under(&store));
        assert!(!s.root.parent().expect("parent").join("evil.inf").exists());
        s.stop().await;
    }
}

/// Windows PE 10 for amd64, optionally with an MDT-like `X:\Unattend.xml`.
fn boot_wim(dir: &Path, name: &str, answer_file: Option<&str>) -> PathBuf {
    let tree = dir.join(format!(".{name}-tree"));
    WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10)
        .write(&tree)
        .expect("tree");
    if let Some(xml) = answer_file {
        std::fs::write(tree.join("Unattend.xml"), xml).expect("unattend");
    }
    let out = dir.join(name);
    fixtures::capture(&tree, "Microsoft Windows PE (amd64)", &out, true).expect("capture");
    std::fs::remove_dir_all(&tree).expect("rm tree");
    out
}

const MDT_ANSWER_FILE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend">
  <settings pass="windowsPE">
    <component name="Microsoft-Windows-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35" language="neutral" versionScope="nonSxS">
      <RunSynchronous>
        <RunSynchronousCommand><Order>1</Order><Path>wscript.exe X:\Deploy\Scripts\LiteTouch.wsf</Path></RunSynchronousCommand>
      </RunSynchronous>
    </component>
  </settings>
</unattend>
"#;

fn extract(wim: &Path, paths: &[&str]) -> (tempfile::TempDir, Vec<String>) {
    let out = tempfile::tempdir().expect("tempdir");
    let found = Wimlib
        .extract_paths(wim, 1, paths, out.path())
        .expect("extract");
    (out, found)
}

/// Checks that `wim` holds `driver`'s files byte for byte in `folder` and an answer file that
/// lists the folder for Windows PE; returns the answer file.
fn assert_injected(
    wim: &Path,
    driver: &domain::drivers::catalog::CatalogDriver,
    folder: &str,
) -> String {
    let (out, found) = extract(
        wim,
        &[
            "/Unattend.xml",
            &format!("/Windows/Wimdeck/Drivers/{folder}"),
        ],
    );
    assert_eq!(found.len(), 2);
    for file in &driver.files {
        assert_eq!(
            std::fs::read(out.path().join(folder).join(file)).expect("injected file"),
            std::fs::read(driver.store_path.join(file)).expect("store file"),
            "{file}"
        );
    }
    let xml = std::fs::read_to_string(out.path().join("Unattend.xml")).expect("xml");
    assert!(
        xml.contains("Microsoft-Windows-PnpCustomizationsWinPE"),
        "{xml}"
    );
    assert!(
        xml.contains(&format!(
            r"<Path>X:\Windows\Wimdeck\Drivers\{folder}</Path>"
        )),
        "{xml}"
    );
    xml
}

#[tokio::test]
async fn drivers_are_injected_into_new_revisions_and_the_base_is_kept() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        DriverPackage::network("e1d", &[Arch::Amd64, Arch::Arm64])
            .write(&s.root.join("net"))
            .expect("net");
        DriverPackage::storage("x86only", &[Arch::X86])
            .write(&s.root.join("net/x86"))
            .expect("x86");
        DriverPackage::storage("iaStorVD", &[Arch::Amd64])
            .write(&s.root.join("net/storage"))
            .expect("storage");
        s.import(&s.root.join("net"), &[]).await;
        let all = s
            .domain
            .for_actor(&s.admin)
            .drivers()
            .list(&DriverFilter::default())
            .await
            .expect("list")
            .drivers;
        let id_of = |inf: &str| {
            all.iter()
                .find(|d| d.inf_name == inf)
                .unwrap_or_else(|| panic!("{inf}"))
                .clone()
        };
        let (e1d, x86only, storage) = (
            id_of("e1d.inf"),
            id_of("x86only.inf"),
            id_of("iaStorVD.inf"),
        );

        boot_wim(&s.root, "mdt.wim", Some(MDT_ANSWER_FILE));
        let job = s
            .domain
            .for_actor(&s.admin)
            .catalog()
            .import(ImportRequest {
                kind: ImageKind::Boot,
                source: s.root.join("mdt.wim").display().to_string(),
                index: None,
                name: Some("MDT boot".into()),
                version: String::new(),
                comment: String::new(),
                architecture: None,
                language: None,
            })
            .await
            .expect("import");
        let job = wait_until_final(&s.domain, job, LONG).await;
        let image_id = job.result.as_ref().expect("result")["image_id"]
            .as_i64()
            .expect("id");
        let before = s.domain.catalog().get(image_id).await.expect("image");
        let base_hash = domain::fsx::sha256_file(&before.file_path).expect("hash");

        let boot = s.domain.for_actor(&s.admin).boot_drivers();
        let err = boot
            .add(image_id, &[x86only.id])
            .await
            .expect_err("wrong arch");
        assert!(
            err.to_string()
                .contains("is for x86; \"MDT boot\" is a amd64 boot image"),
            "{err}"
        );
        s.domain
            .for_actor(&s.admin)
            .drivers()
            .set_enabled(storage.id, false, storage.row_version)
            .await
            .expect("disable");
        let err = boot
            .add(image_id, &[storage.id])
            .await
            .expect_err("disabled");
        assert!(err.to_string().contains("is disabled"), "{err}");
        assert!(matches!(
            s.domain
                .for_actor(&s.analyst)
                .boot_drivers()
                .add(image_id, &[e1d.id])
                .await,
            Err(Error::Forbidden(_))
        ));
        boot.add(image_id, &[e1d.id]).await.expect("add");
        let shown = boot.show(image_id).await.expect("show");
        assert!(shown.pending);
        assert!(!shown.listed[0].in_file);

        // A listed driver cannot be deleted; the error names the image.
        let err = s
            .domain
            .for_actor(&s.admin)
            .drivers()
            .delete(e1d.id, e1d.row_version)
            .await
            .expect_err("in use");
        assert!(err.to_string().contains("\"MDT boot\""), "{err}");

        let job =
            wait_until_final(&s.domain, boot.apply(image_id).await.expect("apply"), LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let after = s.domain.catalog().get(image_id).await.expect("image");
        assert_eq!(after.content_revision, before.content_revision + 1);
        let revisions = s
            .domain
            .boot_images()
            .revisions(&after)
            .await
            .expect("revisions");
        assert_eq!(revisions.len(), 2, "the import and the build");
        assert_eq!(revisions[0].file_path.as_ref(), Some(&after.file_path));
        assert_eq!(
            revisions[0].base_path, before.file_path,
            "built from the import"
        );
        assert_eq!(
            domain::fsx::sha256_file(&before.file_path).expect("hash"),
            base_hash
        );
        assert_eq!(revisions[0].recipe.drivers.len(), 1);
        let folder = revisions[0].recipe.drivers[0].folder_name();
        assert!(folder.starts_with("e1d-"), "{folder}");
        let shown = boot.show(image_id).await.expect("show");
        assert!(!shown.pending && shown.listed[0].in_file);

        // The new revision holds the driver's files, byte for byte, and an answer file that
        // keeps MDT's command and adds the driver folder.
        let xml = assert_injected(&after.file_path, &e1d, &folder);
        assert!(
            xml.contains(r"wscript.exe X:\Deploy\Scripts\LiteTouch.wsf"),
            "{xml}"
        );
        Wimlib
            .verify(&after.file_path, &Monitor::unwatched())
            .expect("verified");

        // Removing the driver builds a revision without it: with nothing left to add, the
        // base itself, answer file and all. The previous revision keeps its file (it can be
        // made current again), the base stays.
        boot.remove(image_id, &[e1d.id]).await.expect("remove");
        let job =
            wait_until_final(&s.domain, boot.apply(image_id).await.expect("apply"), LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let third = s.domain.catalog().get(image_id).await.expect("image");
        assert_eq!(third.content_revision, after.content_revision + 1);
        assert_eq!(third.file_path, before.file_path);
        let (out, found) = extract(
            &third.file_path,
            &["/Unattend.xml", "/Windows/Wimdeck/Drivers"],
        );
        assert_eq!(found, ["/Unattend.xml"]);
        assert_eq!(
            std::fs::read_to_string(out.path().join("Unattend.xml")).expect("xml"),
            MDT_ANSWER_FILE
        );
        assert!(after.file_path.exists(), "a kept revision lost its file");
        assert!(before.file_path.exists(), "the base is gone");

        // Deleting the image deletes its base and kept revisions too; the driver can go now.
        s.domain
            .for_actor(&s.admin)
            .catalog()
            .delete(ImageKind::Boot, image_id, third.row_version)
            .await
            .expect("delete image");
        assert!(gone(&before.file_path).await);
        assert!(gone(&after.file_path).await);
        s.domain
            .for_actor(&s.admin)
            .drivers()
            .delete(e1d.id, e1d.row_version)
            .await
            .expect("delete driver");
        s.stop().await;
    }
}

/// Waits for the file at `path` to be removed (removals after commit run in the background).
async fn gone(path: &Path) -> bool {
    for _ in 0..100 {
        if !path.exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_regenerated_default_boot_image_gets_its_drivers_again() {
    for backend in BACKENDS {
        let s = Setup::with_config(backend, |config, root| {
            config
                .images
                .default_boot_sources
                .insert("amd64".into(), root.join("adk/winpe.wim"));
        })
        .await;
        std::fs::create_dir_all(s.root.join("adk")).expect("adk");
        let winpe = boot_wim(&s.root.join("adk"), "winpe.wim", None);
        DriverPackage::network("e1d", &[Arch::Amd64])
            .write(&s.root.join("net"))
            .expect("net");
        s.import(&s.root.join("net"), &[]).await;
        let e1d = s
            .domain
            .for_actor(&s.admin)
            .drivers()
            .list(&DriverFilter::default())
            .await
            .expect("list")
            .drivers
            .remove(0);
        let update_defaults = || async {
            let id = s
                .domain
                .jobs()
                .enqueue_as(None, NewJob::new(UPDATE_DEFAULTS, serde_json::json!({})))
                .await
                .expect("queue");
            let job = wait_until_final(&s.domain, id, LONG).await;
            assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
            job.result.expect("result")["defaults"][0]["action"]
                .as_str()
                .expect("action")
                .to_owned()
        };
        let newest_apply_job = || async {
            let filter = JobFilter {
                kind: Some("boot-image-build".into()),
                ..JobFilter::default()
            };
            let page = s
                .domain
                .jobs()
                .list(&filter, PageCursor::Newest, 1)
                .await
                .expect("jobs");
            page.jobs.first().map(|j| j.id)
        };

        assert_eq!(update_defaults().await, "created");
        let default = s
            .domain
            .catalog()
            .default_for("amd64")
            .await
            .expect("db")
            .expect("default");
        let boot = s.domain.for_actor(&s.admin).boot_drivers();
        boot.add(default.id, &[e1d.id]).await.expect("add");
        let job = wait_until_final(
            &s.domain,
            boot.apply(default.id).await.expect("apply"),
            LONG,
        )
        .await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let with_drivers = s.domain.catalog().get(default.id).await.expect("image");
        assert_eq!(with_drivers.content_revision, 2);
        let first_apply = newest_apply_job().await;

        // A newer ADK: the default is regenerated from it by a build with the new base and
        // its recipe (the driver list).
        let tree = s.root.join(".newer");
        let mut newer = WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10);
        newer.build = 26200;
        newer.write(&tree).expect("tree");
        std::fs::remove_file(&winpe).expect("remove");
        fixtures::capture(&tree, "Microsoft Windows PE (amd64)", &winpe, true).expect("capture");
        assert_eq!(update_defaults().await, "regenerated");
        let rebuild = newest_apply_job().await.expect("a build");
        assert_ne!(Some(rebuild), first_apply, "no build was queued");
        let job = wait_until_final(&s.domain, rebuild, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);

        let after = s.domain.catalog().get(default.id).await.expect("image");
        assert_eq!(after.os_version.as_deref(), Some("10.0.26200.1"));
        // 1 created, 2 drivers, 3 regenerated with its drivers.
        assert_eq!(after.content_revision, 3);
        let revisions = s
            .domain
            .boot_images()
            .revisions(&after)
            .await
            .expect("revisions");
        assert_eq!(revisions[0].number, 3);
        assert_eq!(
            revisions[0]
                .recipe
                .drivers
                .iter()
                .map(|d| d.id)
                .collect::<Vec<_>>(),
            [e1d.id]
        );
        assert!(
            revisions[0].reason.starts_with("Regenerated"),
            "{}",
            revisions[0].reason
        );
        let base = revisions[0].base_path.clone();
        assert_ne!(base, default.file_path, "the old base is not reused");
        assert!(base.is_file());
        let shown = boot.show(default.id).await.expect("show");
        assert!(!shown.pending && shown.listed[0].in_file);

        // The new revision is the newer Windows PE with the driver and the answer file.
        let inspected = Wimlib.inspect(&after.file_path, false).expect("inspect");
        assert_eq!(
            inspected.images[0]
                .version
                .map(|v| v.to_string())
                .as_deref(),
            Some("10.0.26200.1")
        );
        assert_injected(
            &after.file_path,
            &e1d,
            &revisions[0].recipe.drivers[0].folder_name(),
        );

        // The older revisions keep their files (and so their base) until they are among the
        // oldest: nothing is left that no revision holds.
        assert!(default.file_path.exists(), "revision 1 lost its file");
        assert!(with_drivers.file_path.exists(), "revision 2 lost its file");
        s.stop().await;
    }
}
