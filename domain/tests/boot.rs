//! Boot images built from a recipe: every build checked by independent readers (`wimverify`,
//! `wiminfo` and `wimextract` from wimtools, `hivexget` from libhivex, `xmllint` from libxml2),
//! reproducible builds, revisions with diff, rollback and retention, capture and discover
//! images, reloads, and the refusals that leave everything as it was.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::Duration,
};

use domain::{
    Actor, Config, Domain, Error,
    boot::{
        access::{CustomizationEdit, FileChoice},
        recipe::Shell,
        revisions::FileDelta,
        winpeshl,
    },
    catalog::{CatalogImage, ImageKind, kinds::ImportRequest},
    drivers::{catalog::DriverFilter, import::DriverImportRequest},
    fixtures::{self, Arch, WinPeRelease, WindowsTree, drivers::DriverPackage},
    jobs::{Job, JobState, Runner, ScheduleSpec},
    testing::{BACKENDS, Backend, ManualClock, TestDb, fast_runner_options, wait_until_final},
    wim::{WimBackend, Wimlib},
};

const LONG: Duration = Duration::from_secs(90);

struct Setup {
    domain: Domain,
    clock: ManualClock,
    runner: Option<Runner>,
    admin: Actor,
    analyst: Actor,
    root: PathBuf,
    _db: TestDb,
    _root_dir: tempfile::TempDir,
}

impl Setup {
    async fn new(backend: Backend) -> Self {
        Self::with_config(backend, |_| {}).await
    }

    async fn with_config(backend: Backend, configure: impl FnOnce(&mut Config)) -> Self {
        let db = TestDb::create(backend).await;
        let root_dir = tempfile::tempdir().expect("tempdir");
        let root = root_dir.path().join("sources");
        std::fs::create_dir_all(&root).expect("root");
        let samples = crate::samples();
        for sample in [
            &samples.boot_amd64,
            &samples.boot_setup,
            &samples.boot_mdt,
            &samples.boot_winpe5,
            &samples.install,
        ] {
            std::fs::copy(sample, root.join(sample.file_name().expect("name"))).expect("copy");
        }
        let mut config = db.config();
        config.images.source_roots = vec![root.clone()];
        configure(&mut config);
        let clock = ManualClock::starting_at(crate::T0);
        let domain = Domain::open_with_clock(&config, Arc::new(clock.clone()))
            .await
            .expect("open");
        let (admin, analyst) = crate::osd_and_analyst(&domain).await;
        let runner = Some(Runner::start(&domain, fast_runner_options()));
        Self {
            domain,
            clock,
            runner,
            admin,
            analyst,
            root,
            _db: db,
            _root_dir: root_dir,
        }
    }

    async fn import(&self, kind: ImageKind, file: &str, name: &str) -> CatalogImage {
        let job = self
            .domain
            .for_actor(&self.admin)
            .catalog()
            .import(ImportRequest {
                kind,
                source: self.root.join(file).display().to_string(),
                index: None,
                name: Some(name.into()),
                version: String::new(),
                comment: format!("{name} for tests"),
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

    /// Imports two network drivers for amd64; returns their ids.
    async fn drivers(&self) -> Vec<i64> {
        for stem in ["e1d", "rtkfast"] {
            DriverPackage::network(stem, &[Arch::Amd64])
                .write(&self.root.join("drivers").join(stem))
                .expect("driver");
        }
        let job = self
            .domain
            .for_actor(&self.admin)
            .drivers()
            .import(DriverImportRequest {
                source: self.root.join("drivers").display().to_string(),
                name: None,
                categories: vec![],
            })
            .await
            .expect("drivers");
        let job = wait_until_final(&self.domain, job, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let mut ids: Vec<i64> = self
            .domain
            .for_actor(&self.admin)
            .drivers()
            .list(&DriverFilter::default())
            .await
            .expect("list")
            .drivers
            .iter()
            .map(|d| d.id)
            .collect();
        ids.sort();
        ids
    }

    async fn wait(&self, job: i64) -> Job {
        wait_until_final(&self.domain, job, LONG).await
    }

    async fn build(&self, id: i64) -> Job {
        let job = self
            .domain
            .for_actor(&self.admin)
            .boot_images()
            .build(id)
            .await
            .expect("build");
        self.wait(job).await
    }

    async fn recipe_version(&self, id: i64) -> i32 {
        self.domain
            .for_actor(&self.admin)
            .boot_images()
            .show(id)
            .await
            .expect("show")
            .state
            .recipe_version
    }

    async fn customize(&self, id: i64, edit: CustomizationEdit) -> domain::Result<Vec<String>> {
        let edit = CustomizationEdit {
            expected_recipe_version: self.recipe_version(id).await,
            ..edit
        };
        self.domain
            .for_actor(&self.admin)
            .boot_images()
            .customize(id, edit, false)
            .await
            .map(|(warnings, _)| warnings)
    }

    async fn stop(mut self) {
        if let Some(runner) = self.runner.take() {
            runner.shutdown().await;
        }
    }
}

/// Whether `path` is gone (files a commit releases are removed just after it).
async fn gone(path: &Path) -> bool {
    for _ in 0..100 {
        if !path.exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is required for this test (scripts/test.sh installs it): {e}")
        });
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `wimextract` of `paths` (inside image 1) into a new folder.
fn wimextract(wim: &Path, paths: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = vec![wim.to_str().expect("utf-8"), "1"];
    args.extend(paths);
    let dest = format!("--dest-dir={}", dir.path().display());
    args.push(&dest);
    args.push("--no-acls");
    run("wimextract", &args);
    dir
}

/// `wiminfo FILE 1` as "Key: value" lines.
fn wiminfo(wim: &Path, key: &str) -> String {
    run("wiminfo", &[wim.to_str().expect("utf-8"), "1"])
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

/// A PNG picture (what an admin uploads as a background).
fn png(path: &Path) {
    let picture = image::RgbImage::from_fn(320, 200, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    picture.save(path).expect("png");
}

fn everything(root: &Path) -> CustomizationEdit {
    let prestart = root.join("prestart");
    std::fs::create_dir_all(prestart.join("tools")).expect("prestart");
    std::fs::write(prestart.join("prestart.cmd"), "@echo off\r\necho hello\r\n").expect("cmd");
    std::fs::write(
        prestart.join("tools/check.exe"),
        fixtures::pe_stub(Arch::Amd64, 4096),
    )
    .expect("tool");
    png(&root.join("corp.png"));
    CustomizationEdit {
        prestart_command: Some("cmd /c prestart.cmd".into()),
        prestart_files: FileChoice::From(prestart.display().to_string()),
        background: FileChoice::From(root.join("corp.png").display().to_string()),
        command_support: true,
        scratch_mb: Some(256),
        input_locale: Some("0407:00000407".into()),
        ui_language: Some("en-US".into()),
        expected_recipe_version: 0,
    }
}

#[tokio::test]
async fn a_build_with_every_customization_is_what_independent_readers_find() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let image = s.import(ImageKind::Boot, "boot_amd64.wim", "Lab PE").await;
        let drivers = s.drivers().await;
        s.domain
            .for_actor(&s.admin)
            .boot_drivers()
            .add(image.id, &drivers)
            .await
            .expect("drivers");
        let warnings = s
            .customize(image.id, everything(&s.root))
            .await
            .expect("customize");
        assert!(
            warnings.iter().any(|w| w.contains("Command support is on")),
            "{warnings:?}"
        );
        let job = s.build(image.id).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let built = s.domain.catalog().get(image.id).await.expect("image");
        assert_eq!(built.content_revision, image.content_revision + 1);
        let file = built.file_path.to_str().expect("utf-8");

        run("wimverify", &[file]);
        assert_eq!(
            wiminfo(&built.file_path, "Name"),
            "Microsoft Windows PE (amd64)"
        );
        assert_eq!(wiminfo(&built.file_path, "Architecture"), "x86_64");

        let out = wimextract(
            &built.file_path,
            &[
                "/Unattend.xml",
                "/Windows/System32/config/SYSTEM",
                "/Windows/System32/winpe.jpg",
                "/Windows/Wimdeck",
            ],
        );
        let hive = out.path().join("SYSTEM");
        assert_eq!(
            run(
                "hivexget",
                &[
                    hive.to_str().expect("utf-8"),
                    r"\ControlSet001\Services\FBWF",
                    "WinPECacheThreshold"
                ]
            )
            .trim(),
            "256"
        );
        // What was in the hive before is still there.
        assert_eq!(
            run(
                "hivexget",
                &[
                    hive.to_str().expect("utf-8"),
                    r"\ControlSet001\Control\Keyboard Layouts\00000407",
                    "Layout Text"
                ]
            )
            .trim(),
            "German"
        );
        let answer = out.path().join("Unattend.xml");
        run("xmllint", &["--noout", answer.to_str().expect("utf-8")]);
        let xml = std::fs::read_to_string(&answer).expect("xml");
        let order: Vec<usize> = [
            "wpeutil.exe SetMuiLanguage en-US",
            "wpeutil.exe SetKeyboardLayout 0407:00000407",
            "Wimdeck command support",
            r"cd /d X:\Windows\Wimdeck\Prestart &amp;&amp; cmd /c prestart.cmd",
        ]
        .iter()
        .map(|needle| {
            xml.find(needle)
                .unwrap_or_else(|| panic!("{needle} in {xml}"))
        })
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{xml}");
        assert_eq!(xml.matches("<PathAndCredentials").count(), 2, "{xml}");
        let jpeg = std::fs::read(out.path().join("winpe.jpg")).expect("background");
        assert_eq!(&jpeg[..3], b"\xFF\xD8\xFF", "the background is a JPEG");
        let wimdeck = out.path().join("Wimdeck");
        assert!(wimdeck.join("Prestart/prestart.cmd").is_file());
        assert!(wimdeck.join("Prestart/tools/check.exe").is_file());
        assert_eq!(
            std::fs::read_dir(wimdeck.join("Drivers"))
                .expect("drivers")
                .count(),
            2
        );
        // The page flags the image: command support must not reach production.
        let marks = s.domain.boot_images().marks().await.expect("marks");
        assert!(marks[&image.id].command_support);
        s.stop().await;
    }
}

/// The files of image 1 of `wim`, as (path, sha1) pairs: what "the same image" means.
fn contents(wim: &Path) -> Vec<(String, String)> {
    Wimlib
        .list_files(wim, 1)
        .expect("list")
        .into_iter()
        .map(|f| (f.path, f.sha1))
        .collect()
}

#[tokio::test]
async fn the_same_base_and_recipe_build_the_same_files_whatever_the_order_of_edits() {
    let s = Setup::new(Backend::Sqlite).await;
    let drivers = s.drivers().await;
    let first = s.import(ImageKind::Boot, "boot_amd64.wim", "First").await;
    let second = s.import(ImageKind::Boot, "boot_amd64.wim", "Second").await;
    let boot = s.domain.for_actor(&s.admin).boot_drivers();
    // First: drivers one by one, then the customization.
    boot.add(first.id, &drivers[..1]).await.expect("add");
    boot.add(first.id, &drivers[1..]).await.expect("add");
    s.customize(first.id, everything(&s.root))
        .await
        .expect("customize");
    // Second: customization first (set twice), drivers the other way round, one removed and
    // added again.
    s.customize(
        second.id,
        CustomizationEdit {
            scratch_mb: Some(64),
            ..everything(&s.root)
        },
    )
    .await
    .expect("customize");
    s.customize(second.id, everything(&s.root))
        .await
        .expect("customize");
    boot.add(second.id, &drivers[1..]).await.expect("add");
    boot.add(second.id, &drivers[..1]).await.expect("add");
    boot.remove(second.id, &drivers[..1]).await.expect("remove");
    boot.add(second.id, &drivers[..1]).await.expect("add");
    for id in [first.id, second.id] {
        let job = s.build(id).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    }
    let a = s.domain.catalog().get(first.id).await.expect("first");
    let b = s.domain.catalog().get(second.id).await.expect("second");
    assert_ne!(a.file_path, b.file_path);
    let (files_a, files_b) = (contents(&a.file_path), contents(&b.file_path));
    assert!(files_a.len() > 40, "{} files", files_a.len());
    assert_eq!(files_a, files_b, "the same recipe built different files");
    // And building again changes nothing.
    let job = s.build(first.id).await;
    assert_eq!(job.result.expect("result")["unchanged"], true);
    s.stop().await;
}

#[tokio::test]
async fn revisions_compare_roll_back_and_keep_only_the_newest_files() {
    for backend in BACKENDS {
        let s = Setup::with_config(backend, |config| {
            config.images.boot_revisions_kept = Some(3);
        })
        .await;
        let image = s.import(ImageKind::Boot, "boot_amd64.wim", "Lab PE").await;
        let boot = s.domain.for_actor(&s.admin).boot_images();
        // 2: scratch space; 3: a background too; 4: back to 1; 5 and 6: two more changes.
        s.customize(
            image.id,
            CustomizationEdit {
                scratch_mb: Some(128),
                ..Default::default()
            },
        )
        .await
        .expect("scratch");
        assert_eq!(s.build(image.id).await.state, JobState::Succeeded);
        png(&s.root.join("corp.png"));
        s.customize(
            image.id,
            CustomizationEdit {
                scratch_mb: Some(128),
                background: FileChoice::From(s.root.join("corp.png").display().to_string()),
                ..Default::default()
            },
        )
        .await
        .expect("background");
        assert_eq!(s.build(image.id).await.state, JobState::Succeeded);

        let diff = boot.diff(image.id, 1, 2).await.expect("diff");
        assert_eq!(diff.recipe, ["Scratch space: as the image has it → 128 MB"]);
        let files = diff.files.expect("both have files");
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].path, "/Windows/System32/config/SYSTEM");
        assert_eq!(files[0].delta, FileDelta::Changed);
        let diff = boot.diff(image.id, 2, 3).await.expect("diff");
        assert_eq!(diff.recipe.len(), 1, "{:?}", diff.recipe);
        assert!(diff.recipe[0].starts_with("Background: Windows PE's own → "));
        let files = diff.files.expect("both have files");
        assert_eq!(
            files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            ["/Windows/System32/winpe.jpg"]
        );

        let auditor_id = s
            .domain
            .accounts()
            .create_user("auditor", crate::PASSWORD, &[domain::Role::Auditor])
            .await
            .expect("auditor");
        let auditor = s.domain.accounts().actor(auditor_id).await.expect("actor");
        // Rolling back to 1 is revision 4: revision 1's file, its empty recipe.
        let revisions = s
            .domain
            .boot_images()
            .revisions(&image)
            .await
            .expect("revisions");
        let first_file = revisions
            .last()
            .expect("1")
            .file_path
            .clone()
            .expect("file");
        let number = boot.rollback(image.id, 1).await.expect("rollback");
        assert_eq!(number, 4);
        let now = s.domain.catalog().get(image.id).await.expect("image");
        assert_eq!(now.file_path, first_file);
        let shown = boot.show(image.id).await.expect("show");
        assert!(shown.pending.is_empty(), "{:?}", shown.pending);
        assert_eq!(shown.recipe.customization.scratch_mb, None);
        assert_eq!(shown.current.reason, "Rolled back to revision 1");
        let audit = s
            .domain
            .for_actor(&auditor)
            .audit()
            .search(&Default::default(), None, 1)
            .await
            .expect("audit");
        assert_eq!(audit[0].changes["rolled back to"][1], 1);

        let older: Vec<PathBuf> = s
            .domain
            .boot_images()
            .revisions(&image)
            .await
            .expect("revisions")
            .iter()
            .filter(|r| r.number == 2 || r.number == 3)
            .filter_map(|r| r.file_path.clone())
            .collect();
        assert_eq!(older.len(), 2);
        // Two more builds: only the newest three keep their files; the current one always.
        s.customize(
            image.id,
            CustomizationEdit {
                command_support: true,
                ..Default::default()
            },
        )
        .await
        .expect("command support");
        assert_eq!(s.build(image.id).await.state, JobState::Succeeded);
        s.customize(
            image.id,
            CustomizationEdit {
                scratch_mb: Some(512),
                ..Default::default()
            },
        )
        .await
        .expect("scratch");
        assert_eq!(s.build(image.id).await.state, JobState::Succeeded);
        let revisions = s
            .domain
            .boot_images()
            .revisions(&image)
            .await
            .expect("revisions");
        let numbers: Vec<(i32, bool)> = revisions
            .iter()
            .map(|r| (r.number, r.file_path.is_some()))
            .collect();
        assert_eq!(
            numbers,
            // Revision 1's file is revision 4's (the rollback's) and the base: it stays, and so
            // does revision 1's claim on it.
            [
                (6, true),
                (5, true),
                (4, true),
                (3, false),
                (2, false),
                (1, true)
            ]
        );
        for file in &older {
            assert!(gone(file).await, "{} was kept", file.display());
        }
        // Revision 1's file is the base (and revision 4's): it stays.
        assert!(first_file.is_file());
        let err = boot.rollback(image.id, 2).await.expect_err("gone");
        assert!(err.to_string().contains("was removed"), "{err}");
        let diff = boot.diff(image.id, 2, 6).await.expect("diff");
        assert!(diff.files.is_none());
        assert!(diff.files_unavailable.expect("why").contains("revision 2"));
        // The background only revision 3 named goes with its file.
        let swept = domain::boot::sweep(&s.domain).await.expect("sweep");
        assert_eq!(swept.len(), 1, "{swept:?}");
        s.stop().await;
    }
}

#[tokio::test]
async fn capture_and_discover_images_start_their_tool_and_keep_an_existing_shell() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let setup = s
            .import(ImageKind::Boot, "boot_setup.wim", "Setup x64")
            .await;
        let boot = s.domain.for_actor(&s.admin).boot_images();

        let job = boot
            .create_shell_image(
                setup.id,
                Shell::Discover {
                    server: Some("deploy01.corp.example".into()),
                },
                "Discover x64",
                "Finds deploy01",
            )
            .await
            .expect("discover");
        let job = s.wait(job).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let id = job.result.expect("result")["image_id"]
            .as_i64()
            .expect("id");
        let discover = s.domain.catalog().get(id).await.expect("image");
        assert_eq!(discover.name, "Discover x64");
        run("wimverify", &[discover.file_path.to_str().expect("utf-8")]);
        assert_eq!(wiminfo(&discover.file_path, "Name"), "Discover x64");
        assert_eq!(
            wiminfo(&discover.file_path, "Description"),
            "Finds deploy01"
        );
        let out = wimextract(&discover.file_path, &["/Windows/System32/winpeshl.ini"]);
        let ini = std::fs::read_to_string(out.path().join("winpeshl.ini")).expect("ini");
        assert_eq!(
            winpeshl::launch_apps(&ini),
            [
                r"%SYSTEMROOT%\System32\wpeinit.exe",
                r#"%SYSTEMDRIVE%\sources\setup.exe, "/wds /wdsdiscover /wdsserver:deploy01.corp.example""#,
            ]
        );
        let marks = s.domain.boot_images().marks().await.expect("marks");
        assert_eq!(
            marks[&id].shell,
            Some(Shell::Discover {
                server: Some("deploy01.corp.example".into())
            })
        );

        let job = boot
            .create_shell_image(setup.id, Shell::Capture, "Capture x64", "")
            .await
            .expect("capture");
        let job = s.wait(job).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let capture = s
            .domain
            .catalog()
            .get(
                job.result.expect("result")["image_id"]
                    .as_i64()
                    .expect("id"),
            )
            .await
            .expect("image");
        let out = wimextract(&capture.file_path, &["/Windows/System32/winpeshl.ini"]);
        let ini = std::fs::read_to_string(out.path().join("winpeshl.ini")).expect("ini");
        assert_eq!(
            winpeshl::launch_apps(&ini).last().map(String::as_str),
            Some(r"%SYSTEMROOT%\system32\wdscapture.exe")
        );

        // An image without the program is refused, naming the file; nothing is queued.
        let plain = s
            .import(ImageKind::Boot, "boot_amd64.wim", "Plain PE")
            .await;
        let err = boot
            .create_shell_image(plain.id, Shell::Capture, "No capture", "")
            .await
            .expect_err("no wdscapture");
        assert!(
            err.to_string().contains(r"Windows\System32\wdscapture.exe"),
            "{err}"
        );
        let err = boot
            .create_shell_image(plain.id, Shell::Discover { server: None }, "No setup", "")
            .await
            .expect_err("no setup");
        assert!(err.to_string().contains(r"sources\setup.exe"), "{err}");

        // MDT's image keeps its shell and its answer file's settings.
        let mdt = s.import(ImageKind::Boot, "boot_mdt.wim", "LiteTouch").await;
        s.customize(
            mdt.id,
            CustomizationEdit {
                prestart_command: Some("cmd /c echo pre".into()),
                ..Default::default()
            },
        )
        .await
        .expect("prestart");
        assert_eq!(s.build(mdt.id).await.state, JobState::Succeeded);
        let built = s.domain.catalog().get(mdt.id).await.expect("image");
        let out = wimextract(
            &built.file_path,
            &["/Unattend.xml", "/Windows/System32/winpeshl.ini"],
        );
        let xml = std::fs::read_to_string(out.path().join("Unattend.xml")).expect("xml");
        run(
            "xmllint",
            &[
                "--noout",
                out.path().join("Unattend.xml").to_str().expect("utf-8"),
            ],
        );
        assert!(xml.contains("<HorizontalResolution>1024</HorizontalResolution>"));
        let (ours, theirs) = (
            xml.find("cmd /c echo pre").expect("ours"),
            xml.find("LiteTouch.wsf").expect("theirs"),
        );
        assert!(ours < theirs, "the prestart command runs first: {xml}");
        assert_eq!(
            std::fs::read_to_string(out.path().join("winpeshl.ini")).expect("ini"),
            "[LaunchApps]\r\n%SYSTEMROOT%\\System32\\bddrun.exe,/bootstrap\r\n"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn customizations_are_checked_before_anything_is_saved() {
    let s = Setup::new(Backend::Sqlite).await;
    let image = s.import(ImageKind::Boot, "boot_amd64.wim", "Lab PE").await;
    std::fs::write(s.root.join("notes.png"), "not a picture").expect("text");
    let cases: Vec<(CustomizationEdit, &str)> = vec![
        (
            CustomizationEdit {
                background: FileChoice::From(s.root.join("notes.png").display().to_string()),
                ..Default::default()
            },
            "is not a picture",
        ),
        (
            CustomizationEdit {
                background: FileChoice::From("/etc/passwd".into()),
                ..Default::default()
            },
            "outside the folders",
        ),
        (
            CustomizationEdit {
                scratch_mb: Some(100),
                ..Default::default()
            },
            "not a scratch space Windows PE offers",
        ),
        (
            CustomizationEdit {
                ui_language: Some("ja-JP".into()),
                ..Default::default()
            },
            "has no ja-JP language pack",
        ),
        (
            CustomizationEdit {
                input_locale: Some("0413:00000413".into()),
                ..Default::default()
            },
            "has no keyboard layout 00000413",
        ),
        (
            CustomizationEdit {
                prestart_command: Some("cmd /c a\nb".into()),
                ..Default::default()
            },
            "one line",
        ),
    ];
    for (edit, expected) in cases {
        let err = s.customize(image.id, edit).await.expect_err(expected);
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
    let shown = s
        .domain
        .for_actor(&s.admin)
        .boot_images()
        .show(image.id)
        .await
        .expect("show");
    assert_eq!(shown.state.recipe_version, 1, "nothing was saved");
    assert!(shown.state.customization.is_default());
    assert!(shown.pending.is_empty());

    // An edit based on an older recipe is a conflict.
    let stale = s
        .domain
        .for_actor(&s.admin)
        .boot_images()
        .customize(
            image.id,
            CustomizationEdit {
                command_support: true,
                expected_recipe_version: 7,
                ..Default::default()
            },
            false,
        )
        .await;
    assert!(matches!(stale, Err(Error::Conflict(_))), "{stale:?}");

    // Windows PE 5.0: supported, not customizable.
    let old = s.import(ImageKind::Boot, "winpe5.wim", "Old PE").await;
    let err = s
        .customize(
            old.id,
            CustomizationEdit {
                command_support: true,
                ..Default::default()
            },
        )
        .await
        .expect_err("not customizable");
    assert!(
        err.to_string().contains("supported, not customizable"),
        "{err}"
    );

    // A Read-only Analyst may look, not change.
    let err = s
        .domain
        .for_actor(&s.analyst)
        .boot_images()
        .customize(image.id, CustomizationEdit::default(), false)
        .await
        .expect_err("analyst");
    assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
    s.domain
        .for_actor(&s.analyst)
        .boot_images()
        .show(image.id)
        .await
        .expect("the analyst may read");
    s.stop().await;
}

#[tokio::test]
async fn a_reload_takes_a_changed_source_and_shows_what_changed() {
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let image = s.import(ImageKind::Boot, "boot_amd64.wim", "Lab PE").await;
        let boot = s.domain.for_actor(&s.admin).boot_images();
        s.customize(
            image.id,
            CustomizationEdit {
                scratch_mb: Some(64),
                ..Default::default()
            },
        )
        .await
        .expect("scratch");
        assert_eq!(s.build(image.id).await.state, JobState::Succeeded);

        // Unchanged source: the base stays, nothing is built.
        let job = s.wait(boot.reload(image.id).await.expect("reload")).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        assert_eq!(job.result.expect("result")["unchanged"], true);

        // Another tool updated the source: a newer Windows PE.
        let tree = s.root.join(".newer");
        let mut newer = WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10);
        newer.build = 26200;
        newer
            .files
            .push(("Windows/System32/newtool.exe".into(), 30_000));
        newer.write(&tree).expect("tree");
        let source = s.root.join("boot_amd64.wim");
        std::fs::remove_file(&source).expect("remove");
        fixtures::capture(&tree, "Microsoft Windows PE (amd64)", &source, true).expect("capture");
        let version = boot.source_version(image.id).await.expect("version");
        assert_eq!(
            (version.in_image.as_str(), version.in_source.as_deref()),
            ("10.0.26100.1", Some("10.0.26200.1"))
        );
        let job = s.wait(boot.reload(image.id).await.expect("reload")).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let after = s.domain.catalog().get(image.id).await.expect("image");
        assert_eq!(after.os_version.as_deref(), Some("10.0.26200.1"));
        let shown = boot.show(image.id).await.expect("show");
        assert_eq!(shown.current.reason, "Reloaded from the source");
        assert_eq!(
            shown.recipe.customization.scratch_mb,
            Some(64),
            "the recipe stays"
        );
        let diff = boot.diff(image.id, 2, 3).await.expect("diff");
        assert!(
            diff.recipe[0].contains("10.0.26100.1 → Windows PE 10.0.26200.1"),
            "{:?}",
            diff.recipe
        );
        let files = diff.files.expect("files");
        assert!(
            files
                .iter()
                .any(|f| f.path == "/Windows/System32/newtool.exe" && f.delta == FileDelta::Added),
            "{files:?}"
        );
        // A rebuild from the source on a schedule: an operator's, run as its owner.
        let operator_id = s
            .domain
            .accounts()
            .create_user(
                "operator",
                crate::PASSWORD,
                &[domain::Role::FullAdministrator],
            )
            .await
            .expect("operator");
        let operator = s.domain.accounts().actor(operator_id).await.expect("actor");
        let err = boot
            .schedule_rebuild(image.id, ScheduleSpec::Interval(86_400))
            .await
            .expect_err("schedules are for operators");
        assert!(matches!(err, Error::Forbidden(_)), "{err:?}");
        let schedule = s
            .domain
            .for_actor(&operator)
            .boot_images()
            .schedule_rebuild(image.id, ScheduleSpec::Interval(86_400))
            .await
            .expect("schedule");
        let listed = s
            .domain
            .for_actor(&operator)
            .boot_images()
            .schedules(image.id)
            .await
            .expect("schedules");
        assert_eq!(listed.iter().map(|s| s.id).collect::<Vec<_>>(), [schedule]);
        s.clock.advance_ms(86_400_000);
        s.domain.jobs().fire_due_schedules().await.expect("fire");
        let fired = s
            .domain
            .jobs()
            .list(&Default::default(), Default::default(), 1)
            .await
            .expect("jobs")
            .jobs
            .remove(0);
        assert_eq!(fired.kind, domain::boot::build::BUILD);
        assert_eq!(fired.params["base"]["from"], "reload");
        let fired = s.wait(fired.id).await;
        assert_eq!(fired.state, JobState::Succeeded, "{:?}", fired.error);
        assert_eq!(fired.result.expect("result")["unchanged"], true);

        // The new base carries the recipe's changes: the scratch space is still 64 MB.
        let out = wimextract(&after.file_path, &["/Windows/System32/config/SYSTEM"]);
        assert_eq!(
            run(
                "hivexget",
                &[
                    out.path().join("SYSTEM").to_str().expect("utf-8"),
                    r"\ControlSet001\Services\FBWF",
                    "WinPECacheThreshold"
                ]
            )
            .trim(),
            "64"
        );
        s.stop().await;
    }
}

#[tokio::test]
async fn an_os_image_lists_the_boot_images_that_can_deploy_it() {
    let s = Setup::new(Backend::Sqlite).await;
    let os = s.import(ImageKind::Os, "install.wim", "Windows 11").await;
    let boot = s.domain.for_actor(&s.admin).boot_images();
    assert!(boot.for_os_image(os.id).await.expect("none").is_empty());
    let current = s
        .import(ImageKind::Boot, "boot_amd64.wim", "Current PE")
        .await;
    s.import(ImageKind::Boot, "winpe5.wim", "Old PE").await;
    let matching: Vec<i64> = boot
        .for_os_image(os.id)
        .await
        .expect("matching")
        .iter()
        .map(|b| b.id)
        .collect();
    assert_eq!(
        matching,
        [current.id],
        "Windows PE 5.0 is older than Windows 11"
    );
    s.stop().await;
}

#[tokio::test]
async fn a_default_image_rolled_back_stays_rolled_back_until_its_windows_pe_changes() {
    let adk = tempfile::tempdir().expect("adk");
    let winpe = adk.path().join("winpe.wim");
    std::fs::copy(&crate::samples().boot_amd64, &winpe).expect("copy");
    let source = winpe.clone();
    let s = Setup::with_config(Backend::Sqlite, move |config| {
        config
            .images
            .default_boot_sources
            .insert("amd64".into(), source);
    })
    .await;
    let update = || async {
        let job = s
            .domain
            .for_actor(&s.admin)
            .boot_images()
            .update_defaults()
            .await
            .expect("queue");
        let job = s.wait(job).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        job.result.expect("result")["defaults"][0]["action"]
            .as_str()
            .expect("action")
            .to_owned()
    };
    let latest_build = || async {
        let filter = domain::jobs::JobFilter {
            kind: Some(domain::boot::build::BUILD.into()),
            ..Default::default()
        };
        let job = s
            .domain
            .jobs()
            .list(&filter, domain::jobs::PageCursor::Newest, 1)
            .await
            .expect("jobs")
            .jobs
            .remove(0);
        let job = s.wait(job.id).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    };
    assert_eq!(update().await, "created");
    let default = s
        .domain
        .catalog()
        .default_for("amd64")
        .await
        .expect("db")
        .expect("default");
    // A newer ADK: revision 2 is the regeneration.
    let tree = s.root.join(".newer");
    let mut newer = WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10);
    newer.build = 26200;
    newer.write(&tree).expect("tree");
    std::fs::remove_file(&winpe).expect("remove");
    fixtures::capture(&tree, "Microsoft Windows PE (amd64)", &winpe, true).expect("capture");
    assert_eq!(update().await, "regenerated");
    latest_build().await;
    let boot = s.domain.for_actor(&s.admin).boot_images();
    assert_eq!(boot.show(default.id).await.expect("show").current.number, 2);
    // The admin goes back to the older Windows PE: the next check leaves it there.
    boot.rollback(default.id, 1).await.expect("rollback");
    assert_eq!(update().await, "up-to-date");
    let now = s.domain.catalog().get(default.id).await.expect("image");
    assert_eq!(now.os_version.as_deref(), Some("10.0.26100.1"));
    s.stop().await;
}
