//! Real crashes: a server working on an Optimize, an Apply drivers and a default boot image
//! regeneration (and on the new content versions they make: the images are distributed) is
//! killed with SIGKILL at random moments, started again, and after each start the catalog, the
//! stores and the content library must agree exactly.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use domain::{
    Actor, Domain, Role,
    authz::ObjectType,
    boot::{access::CustomizationEdit, defaults::UPDATE_DEFAULTS},
    catalog::{ImageKind, kinds::ImportRequest},
    content::ContentObject,
    distribution::actions::Targets,
    drivers::{catalog::DriverFilter, import::DriverImportRequest},
    fixtures::{self, Arch, WinPeRelease, WindowsTree, drivers::DriverPackage},
    jobs::{JobState, NewJob, Runner},
    testing::{Backend, TestDb, fast_runner_options, wait_until_final},
};

const SETTLE: Duration = Duration::from_secs(120);

/// A small xorshift generator: the kill moments, reproducible from the printed seed.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

struct Site {
    db: TestDb,
    config_file: PathBuf,
    root: PathBuf,
    /// The path the configuration names as the amd64 Windows PE: a link to one of two builds.
    winpe_link: PathBuf,
    winpe: [PathBuf; 2],
    sources: BTreeMap<PathBuf, String>,
}

impl Site {
    async fn new(backend: Backend) -> Self {
        let db = TestDb::create(backend).await;
        let root = db.data_dir.join("sources");
        std::fs::create_dir_all(&root).expect("root");
        let mut winpe = Vec::new();
        for sp_build in [1, 2] {
            let tree = db.data_dir.join(format!("tree-{sp_build}"));
            let mut pe = WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10);
            pe.sp_build = sp_build;
            pe.write(&tree).expect("tree");
            let out = root.join(format!("winpe-{sp_build}.wim"));
            fixtures::capture(&tree, "Microsoft Windows PE (amd64)", &out, true).expect("wim");
            std::fs::remove_dir_all(&tree).expect("rm");
            winpe.push(out);
        }
        std::fs::copy(&winpe[0], root.join("boot.wim")).expect("boot");
        DriverPackage::network("e1c", &[Arch::Amd64])
            .write(&root.join("net"))
            .expect("driver");
        let winpe_link = root.join("winpe.wim");
        std::os::unix::fs::symlink(&winpe[0], &winpe_link).expect("link");
        let config_file = db.data_dir.join("wimdeck.toml");
        std::fs::write(
            &config_file,
            format!(
                "data_dir = {:?}\ndatabase_url = {:?}\nlisten = \"127.0.0.1:0\"\nsite_root = {:?}\n\
                 [jobs]\nlease_secs = 2\nheartbeat_ms = 300\nshutdown_grace_secs = 1\n\
                 [images]\nsource_roots = [{:?}]\n[images.default_boot_sources]\namd64 = {:?}\n",
                db.data_dir, db.url, db.data_dir, root, winpe_link
            ),
        )
        .expect("config");
        let mut sources = BTreeMap::new();
        for file in [&winpe[0], &winpe[1], &root.join("boot.wim")] {
            sources.insert(file.clone(), sha256(file));
        }
        Self {
            db,
            config_file,
            root,
            winpe_link,
            winpe: [winpe[0].clone(), winpe[1].clone()],
            sources,
        }
    }

    async fn domain(&self) -> Domain {
        let overrides = domain::config::ConfigOverrides::default();
        let config =
            domain::Config::load(Some(&self.config_file), &overrides).expect("configuration");
        Domain::open(&config).await.expect("open")
    }

    /// Starts `wimdeck serve` and waits until it listens.
    fn serve(&self) -> Child {
        let mut child = Command::new(env!("CARGO_BIN_EXE_wimdeck"))
            .args([
                "serve",
                "--config",
                self.config_file.to_str().expect("utf-8"),
            ])
            .env_remove("WIMDECK_CONFIG")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        // Drains the log for as long as the server lives (a full pipe would stop it).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the server did not start listening");
        child
    }

    /// Points the configured Windows PE at the other build, as an admin updating the ADK.
    fn swap_winpe(&self, to: usize) {
        let next = self.root.join(".winpe-next");
        let _ = std::fs::remove_file(&next);
        std::os::unix::fs::symlink(&self.winpe[to], &next).expect("link");
        std::fs::rename(&next, &self.winpe_link).expect("swap");
    }
}

fn sha256(path: &Path) -> String {
    domain::fsx::sha256_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Waits until no job is queued or running.
async fn settle(domain: &Domain) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let active = domain.jobs().count_active().await.expect("count");
        if active == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{active} jobs still active");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The invariants, checked with the server idle and after the start-up sweep. Returns how
/// many facts were checked.
async fn check(site: &Site, domain: &Domain) -> usize {
    let mut checked = 0;
    assert_eq!(
        domain.jobs().count_in(JobState::Running).await.expect("n"),
        0
    );
    checked += 1;
    // What the start-up sweep would remove is gone (the server swept before its runner ran;
    // jobs that ended since may have left records for the next sweep).
    domain.sweep().await.expect("sweep");
    let mut named: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for kind in [ImageKind::Boot, ImageKind::Os] {
        for image in domain.catalog().list(kind).await.expect("list") {
            assert!(image.file_path.is_file(), "{}: file missing", image.name);
            assert_eq!(
                sha256(&image.file_path),
                image.sha256,
                "{}: a different file",
                image.name
            );
            checked += 2;
            // Its file, and those it holds (a boot image's base and kept revisions).
            for file in domain.catalog().files_of(&image).await.expect("files") {
                assert!(file.is_file(), "{}: {} missing", image.name, file.display());
                *named.entry(file).or_default() += 1;
                checked += 1;
            }
        }
    }
    for (path, rows) in &named {
        assert_eq!(*rows, 1, "{} is named {rows} times", path.display());
        checked += 1;
    }
    let data = &site.db.data_dir;
    for dir in [data.join("images/boot"), data.join("images/os")] {
        for file in files_in(&dir) {
            assert!(
                named.contains_key(&file),
                "{} is in the store but no row names it",
                file.display()
            );
            checked += 1;
        }
    }
    let drivers = domain
        .driver_catalog()
        .list(&DriverFilter::default())
        .await
        .expect("drivers")
        .drivers;
    let stored: BTreeSet<PathBuf> = drivers.iter().map(|d| d.store_path.clone()).collect();
    for driver in &drivers {
        assert!(driver.store_path.is_dir(), "{}: files missing", driver.name);
        checked += 1;
    }
    for folder in files_in(&data.join("drivers/store")) {
        assert!(
            stored.contains(&folder),
            "{} belongs to no driver",
            folder.display()
        );
        checked += 1;
    }
    // The content library: every version's manifest is stored, and every chunk it names is
    // there, whole; nothing half-written is left.
    let store = domain.content().store();
    for content in domain.content().list().await.expect("contents") {
        for version in domain
            .content()
            .versions(content.id)
            .await
            .expect("versions")
        {
            let manifest = store
                .read_manifest(&version.manifest_sha256)
                .unwrap_or_else(|e| panic!("{} version {}: {e}", content.name, version.number));
            for chunk in manifest.distinct_chunks() {
                store
                    .read_chunk(&chunk)
                    .unwrap_or_else(|e| panic!("{} version {}: {e}", content.name, version.number));
                checked += 1;
            }
        }
    }
    let mut pending = vec![store.root().to_path_buf()];
    while let Some(dir) = pending.pop() {
        for path in files_in(&dir) {
            if path.is_dir() {
                pending.push(path);
            } else {
                assert!(
                    !path.to_string_lossy().contains(domain::fsx::TEMP_MARK),
                    "{} was left half-written",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    for (source, hash) in &site.sources {
        assert_eq!(&sha256(source), hash, "{} changed", source.display());
        checked += 1;
    }
    assert_eq!(
        domain.audit().verify().await.expect("verify").broken_at,
        None
    );
    checked + 1
}

async fn admin_of(domain: &Domain) -> Actor {
    let id = domain
        .accounts()
        .create_user("admin", crate::PASSWORD, &[Role::FullAdministrator])
        .await
        .expect("admin");
    domain.accounts().actor(id).await.expect("actor")
}

/// The catalog the crashes work on: a boot image to optimize, one with a driver list to apply,
/// and the default boot image (made by the first server), whose drivers are re-applied each
/// time it is regenerated.
async fn prepare(site: &Site, domain: &Domain, admin: &Actor) -> (i64, i64, i64) {
    let runner = Runner::start(domain, fast_runner_options());
    let import = |name: &str| ImportRequest {
        kind: ImageKind::Boot,
        source: site.root.join("boot.wim").display().to_string(),
        index: None,
        name: Some(name.into()),
        version: String::new(),
        comment: String::new(),
        architecture: None,
        language: None,
    };
    let mut ids = Vec::new();
    for name in ["Optimized PE", "Drivers PE"] {
        let job = domain
            .for_actor(admin)
            .catalog()
            .import(import(name))
            .await
            .expect("import");
        let job = wait_until_final(domain, job, SETTLE).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        ids.push(
            job.result.expect("result")["image_id"]
                .as_i64()
                .expect("id"),
        );
    }
    let job = domain
        .for_actor(admin)
        .drivers()
        .import(DriverImportRequest {
            source: site.root.join("net").display().to_string(),
            name: None,
            categories: vec![],
        })
        .await
        .expect("drivers");
    let job = wait_until_final(domain, job, SETTLE).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let job = domain
        .jobs()
        .enqueue_as(None, NewJob::new(UPDATE_DEFAULTS, serde_json::json!({})))
        .await
        .expect("defaults");
    let job = wait_until_final(domain, job, SETTLE).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    runner.shutdown().await;
    let default = domain
        .catalog()
        .default_for("amd64")
        .await
        .expect("db")
        .expect("default");
    let driver = domain
        .driver_catalog()
        .list(&DriverFilter::default())
        .await
        .expect("drivers")
        .drivers[0]
        .id;
    for image in [ids[1], default.id] {
        domain
            .for_actor(admin)
            .boot_drivers()
            .add(image, &[driver])
            .await
            .expect("list the driver");
    }
    // All three on "This server"'s DP: every change makes a new version of their content,
    // the job the kills fall on too.
    let runner = Runner::start(domain, fast_runner_options());
    let site_dp = domain
        .distribution_points()
        .ensure_site()
        .await
        .expect("site dp")
        .id;
    for image in [ids[0], ids[1], default.id] {
        let job = domain
            .for_actor(admin)
            .distribution()
            .distribute(
                ContentObject::new(ObjectType::BootImage, image),
                Targets {
                    dps: vec![site_dp],
                    groups: vec![],
                },
            )
            .await
            .expect("distribute");
        let job = wait_until_final(domain, job, SETTLE).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    }
    runner.shutdown().await;
    (ids[0], ids[1], default.id)
}

async fn crash_repeatedly(backend: Backend, kills: usize) {
    let site = Site::new(backend).await;
    let domain = site.domain().await;
    let admin = admin_of(&domain).await;
    let (customized, with_drivers, _default) = prepare(&site, &domain, &admin).await;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut moments = Moments(seed);
    let mut checks = 0;
    for kill in 0..kills {
        let mut server = site.serve();
        settle(&domain).await;
        checks += check(&site, &domain).await;
        // Work for the server: a regeneration (the Windows PE source changed), a build of a
        // changed customization, and the drivers of the other image.
        site.swap_winpe((kill + 1) % 2);
        domain
            .jobs()
            .enqueue_as(None, NewJob::new(UPDATE_DEFAULTS, serde_json::json!({})))
            .await
            .expect("regenerate");
        let boot = domain.for_actor(&admin).boot_images();
        let recipe_version = boot
            .show(customized)
            .await
            .expect("show")
            .state
            .recipe_version;
        boot.customize(
            customized,
            CustomizationEdit {
                command_support: kill % 2 == 0,
                scratch_mb: Some(if kill % 2 == 0 { 64 } else { 128 }),
                expected_recipe_version: recipe_version,
                ..CustomizationEdit::default()
            },
            true,
        )
        .await
        .expect("customize and build");
        domain
            .for_actor(&admin)
            .boot_drivers()
            .apply(with_drivers)
            .await
            .expect("apply drivers");
        tokio::time::sleep(Duration::from_millis(moments.next_ms(1500))).await;
        server.kill().expect("SIGKILL");
        server.wait().expect("reap");
    }
    let mut server = site.serve();
    settle(&domain).await;
    checks += check(&site, &domain).await;
    server.kill().expect("kill");
    server.wait().expect("reap");
    let jobs = domain
        .jobs()
        .list(&Default::default(), Default::default(), 200)
        .await
        .expect("jobs")
        .jobs;
    let ended = |state: JobState| jobs.iter().filter(|j| j.state == state).count();
    let mut versions = 0;
    for content in domain.content().list().await.expect("contents") {
        versions += domain
            .content()
            .versions(content.id)
            .await
            .expect("versions")
            .len();
    }
    println!(
        "{backend:?}: {kills} kills (seed {seed}), {checks} invariant checks, {versions} content versions kept; jobs: {} succeeded, {} failed, {} interrupted",
        ended(JobState::Succeeded),
        ended(JobState::Failed),
        ended(JobState::Interrupted)
    );
    assert!(
        ended(JobState::Succeeded) > kills,
        "the work never got done"
    );
}

#[tokio::test]
async fn sigkill_at_random_moments_leaves_catalog_and_stores_agreeing_on_sqlite() {
    crash_repeatedly(Backend::Sqlite, 30).await;
}

#[tokio::test]
async fn sigkill_at_random_moments_leaves_catalog_and_stores_agreeing_on_postgres() {
    crash_repeatedly(Backend::Postgres, 15).await;
}
