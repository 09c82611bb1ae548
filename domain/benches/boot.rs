//! Boot image build benchmarks (not tests). Run:
//!
//!     cargo bench -p domain --features testing --bench boot
//!
//! Prints Markdown rows for docs/benchmarks.md:
//! 1. A build of a WinPE-sized boot image (~300 MiB) with 20 drivers and every customization
//!    (prestart command and its files, background, command support, scratch space, input locale,
//!    language), end to end as a Wimdeck job (from "Build" to the catalog pointing at the new,
//!    verified, hashed revision), beside `wimlib-imagex update` adding the same files to a copy
//!    of the same base — alone, and followed by the checks Wimdeck always does (`verify`,
//!    `sha256sum`). Each round changes the scratch space, so every build writes a new revision.
//! 2. The diff of two revisions of a boot image with 10,000 files, as the Revisions tab asks
//!    for it (both files listed from their metadata and compared).

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{compare, find_imagex, median, run};
use domain::{
    ActorDomain, Domain, Role,
    boot::access::{CustomizationEdit, FileChoice},
    catalog::{ImageKind, kinds::ImportRequest},
    drivers::{catalog::DriverFilter, import::DriverImportRequest},
    fixtures::{
        self, Arch, WinPeRelease, WindowsTree,
        drivers::{CatalogState, DriverPackage},
    },
    jobs::{JobState, Runner},
    testing::{Backend, TestDb, fast_runner_options, wait_until_final},
    wim::{WimBackend, Wimlib},
};

const ROUNDS: usize = 3;
const DRIVERS: usize = 20;
const LONG: Duration = Duration::from_secs(600);

fn main() {
    println!("| measurement | Wimdeck | reference | ratio |");
    println!("| --- | --- | --- | --- |");
    let bench = Bench::new();
    bench.build();
    bench.diff();
}

struct Bench {
    runtime: tokio::runtime::Runtime,
    domain: Domain,
    admin: domain::Actor,
    root: PathBuf,
    _db: TestDb,
    _runner: Runner,
}

impl Bench {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let db = runtime.block_on(TestDb::create(Backend::Sqlite));
        let root = db.data_dir.join("sources");
        std::fs::create_dir_all(&root).expect("root");
        let mut config = db.config();
        config.images.source_roots = vec![root.clone()];
        let domain = runtime.block_on(Domain::open(&config)).expect("open");
        let user = runtime
            .block_on(domain.accounts().create_user(
                "osd",
                "a long bench password",
                &[Role::OperatingSystemDeploymentManager],
            ))
            .expect("user");
        let admin = runtime
            .block_on(domain.accounts().actor(user))
            .expect("actor");
        let runner = runtime.block_on(async { Runner::start(&domain, fast_runner_options()) });
        Self {
            runtime,
            domain,
            admin,
            root,
            _db: db,
            _runner: runner,
        }
    }

    fn actor(&self) -> ActorDomain<'_> {
        self.domain.for_actor(&self.admin)
    }

    fn import(&self, source: &Path, name: &str) -> i64 {
        self.runtime.block_on(async {
            let job = self
                .actor()
                .catalog()
                .import(ImportRequest {
                    kind: ImageKind::Boot,
                    source: source.display().to_string(),
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
            job.result.expect("result")["image_id"]
                .as_i64()
                .expect("id")
        })
    }

    fn customize(&self, id: i64, edit: CustomizationEdit) {
        self.runtime.block_on(async {
            let boot = self.actor().boot_images();
            let version = boot.show(id).await.expect("show").state.recipe_version;
            boot.customize(
                id,
                CustomizationEdit {
                    expected_recipe_version: version,
                    ..edit
                },
                false,
            )
            .await
            .expect("customize");
        });
    }

    fn build_now(&self, id: i64) {
        self.runtime.block_on(async {
            let job = self.actor().boot_images().build(id).await.expect("build");
            let job = wait_until_final(&self.domain, job, LONG).await;
            assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        });
    }

    fn build(&self) {
        let imagex = find_imagex();
        let source = boot_wim(&self.root, "boot.wim", 2400, |i| {
            // 16 KiB to ~580 KiB, averaging ~300 KiB: ~700 MiB expanded, ~300 MiB compressed.
            16 * 1024 + (i * 7919) % (576 * 1024)
        });
        let image_id = self.import(&source, "WinPE");
        let base = self
            .runtime
            .block_on(self.domain.catalog().get(image_id))
            .expect("image")
            .file_path;

        // 20 network and storage drivers of real sizes (x86 and amd64 binaries, 0.3–2.6 MiB).
        for i in 0..DRIVERS {
            let stem = format!("inj{i:02}");
            let mut pkg = match i % 2 {
                0 => DriverPackage::network(&stem, &[Arch::X86, Arch::Amd64]),
                _ => DriverPackage::storage(&stem, &[Arch::X86, Arch::Amd64]),
            };
            pkg.catalog = CatalogState::Valid;
            pkg.binary_bytes = 300 * 1024 + i * 120 * 1024;
            pkg.write(&self.root.join(format!("drivers/{stem}")))
                .expect("package");
        }
        let drivers = self.runtime.block_on(async {
            let job = self
                .actor()
                .drivers()
                .import(DriverImportRequest {
                    source: self.root.join("drivers").display().to_string(),
                    name: None,
                    categories: Vec::new(),
                })
                .await
                .expect("import");
            let job = wait_until_final(&self.domain, job, LONG).await;
            assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
            self.actor()
                .drivers()
                .list(&DriverFilter::default())
                .await
                .expect("list")
                .drivers
        });
        assert_eq!(drivers.len(), DRIVERS);
        let ids: Vec<i64> = drivers.iter().map(|d| d.id).collect();
        self.runtime
            .block_on(self.actor().boot_drivers().add(image_id, &ids))
            .expect("add");

        // Every customization: the prestart command's folder, a background, the rest.
        let prestart = self.root.join("prestart");
        std::fs::create_dir_all(&prestart).expect("prestart");
        std::fs::write(prestart.join("prestart.cmd"), "@echo off\r\n").expect("cmd");
        std::fs::write(
            prestart.join("inventory.exe"),
            fixtures::pe_stub(Arch::Amd64, 2 << 20),
        )
        .expect("tool");
        image::RgbImage::from_fn(1920, 1080, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x ^ y) % 256) as u8])
        })
        .save(self.root.join("background.png"))
        .expect("background");
        let everything = |scratch: u32| CustomizationEdit {
            prestart_command: Some("cmd /c prestart.cmd".into()),
            prestart_files: FileChoice::From(prestart.display().to_string()),
            background: FileChoice::From(self.root.join("background.png").display().to_string()),
            command_support: true,
            scratch_mb: Some(scratch),
            input_locale: Some("0407:00000407".into()),
            ui_language: Some("en-US".into()),
            expected_recipe_version: 0,
        };
        // A first build, not timed: the reference adds what it holds, in the same places.
        self.customize(image_id, everything(512));
        self.build_now(image_id);
        let revision = self
            .runtime
            .block_on(self.domain.catalog().get(image_id))
            .expect("image");
        let work = tempfile::tempdir().expect("tempdir");
        let written = [
            "/Unattend.xml",
            "/Windows/System32/config/SYSTEM",
            "/Windows/System32/winpe.jpg",
            "/Windows/Wimdeck/Prestart",
        ];
        Wimlib
            .extract_paths(&revision.file_path, 1, &written, work.path())
            .expect("extract");
        let built = self
            .runtime
            .block_on(self.domain.boot_images().revisions(&revision))
            .expect("revisions");
        let mut commands = String::new();
        for injected in &built[0].recipe.drivers {
            let driver = drivers
                .iter()
                .find(|d| d.id == injected.id)
                .expect("driver");
            commands.push_str(&format!(
                "add '{}' '/Windows/Wimdeck/Drivers/{}'\n",
                driver.store_path.display(),
                injected.folder_name()
            ));
        }
        for target in written {
            let name = target.rsplit('/').next().expect("name");
            commands.push_str(&format!(
                "add '{}' '{target}'\n",
                work.path().join(name).display()
            ));
        }
        let copy = work.path().join("copy.wim");
        let copy_text = copy.display().to_string();
        let update_copy = || {
            let _ = std::fs::remove_file(&copy);
            std::fs::copy(&base, &copy).expect("copy");
            let mut child = Command::new(&imagex)
                .args(["update", &copy_text, "1", "--check"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .expect("update");
            std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), commands.as_bytes())
                .expect("commands");
            drop(child.stdin.take());
            assert!(child.wait().expect("wait").success(), "update failed");
        };

        let mut round = 0u32;
        let mut ours = || {
            // Not timed apart: saving the recipe is part of what the admin does.
            round += 1;
            self.customize(
                image_id,
                everything(if round.is_multiple_of(2) { 128 } else { 256 }),
            );
            self.build_now(image_id);
        };
        let mut update_only = || update_copy();
        let mut update_checked = || {
            update_copy();
            run(&imagex, &["verify", &copy_text]);
            run(Path::new("sha256sum"), &[&copy_text]);
        };
        let medians = compare(
            ROUNDS,
            &mut [&mut ours, &mut update_only, &mut update_checked],
        );
        let base_mib = std::fs::metadata(&base).expect("base").len() >> 20;
        let driver_mib = drivers.iter().map(|d| d.size_bytes).sum::<u64>() >> 20;
        println!(
            "| build: {DRIVERS} drivers ({driver_mib} MiB) and every customization into a {base_mib} MiB boot image, s | {:.2} (save the recipe, job: new revision, verified, hashed, in the catalog) | {:.2} (`cp` + `update --check` of the same files) | {:.2} |",
            medians[0],
            medians[1],
            medians[0] / medians[1]
        );
        println!(
            "| same, reference with Wimdeck's checks, s | {:.2} | {:.2} (`cp` + `update --check` + `verify` + `sha256sum`) | {:.2} |",
            medians[0],
            medians[2],
            medians[0] / medians[2]
        );
        println!(
            "\nreference: {}",
            run(&imagex, &["--version"])
                .lines()
                .next()
                .unwrap_or_default()
        );
    }

    fn diff(&self) {
        let source = boot_wim(&self.root, "many.wim", 10_000, |i| 512 + (i * 131) % 8192);
        let id = self.import(&source, "Many files");
        self.customize(
            id,
            CustomizationEdit {
                scratch_mb: Some(128),
                command_support: true,
                ..CustomizationEdit::default()
            },
        );
        self.build_now(id);
        let files = Wimlib
            .list_files(
                &self
                    .runtime
                    .block_on(self.domain.catalog().get(id))
                    .expect("image")
                    .file_path,
                1,
            )
            .expect("list")
            .len();
        let mut times = Vec::new();
        let mut changed = 0;
        for _ in 0..5 {
            let started = Instant::now();
            let diff = self
                .runtime
                .block_on(self.actor().boot_images().diff(id, 1, 2))
                .expect("diff");
            times.push(started.elapsed().as_secs_f64());
            changed = diff.files.expect("files").len();
        }
        println!(
            "| diff of two revisions of a boot image with {files} files and folders ({changed} differ), s | {:.3} | 1.0 (the goal) | {:.2} |",
            median(times.clone()),
            median(times)
        );
    }
}

/// Windows PE 10 amd64 grown with `count` files of `size(i)` bytes.
fn boot_wim(dir: &Path, name: &str, count: usize, size: impl Fn(usize) -> usize) -> PathBuf {
    let mut tree = WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10);
    for i in 0..count {
        let folder = match i % 4 {
            0 => "Windows/System32",
            1 => "Windows/SysWOW64",
            2 => "Windows/System32/DriverStore/FileRepository",
            _ => "Windows/WinSxS",
        };
        tree.files
            .push((format!("{folder}/file{i:05}.dll"), size(i)));
    }
    let root = dir.join(format!(".{name}-tree"));
    tree.write(&root).expect("tree");
    let out = dir.join(name);
    fixtures::capture(&root, "Microsoft Windows PE (amd64)", &out, true).expect("capture");
    std::fs::remove_dir_all(&root).expect("remove tree");
    out
}
