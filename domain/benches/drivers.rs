//! Driver benchmarks (not tests). Run:
//!
//!     cargo bench -p domain --features testing --bench drivers
//!
//! Prints Markdown rows for docs/benchmarks.md:
//! 1. INF parsing throughput, in memory: a mix of generated INFs (network, storage and display
//!    classes; UTF-16LE and UTF-8; x86/amd64/arm64 decorations) and large INFs with thousands
//!    of models, as a NIC vendor's are. The reference is the floor any INF reader pays:
//!    decoding the text and splitting it into lines, with the standard library.
//! 2. Reading whole drivers from disk as an import does (parse, find the files, content hash,
//!    catalog-file signature check), beside `sha256sum` over the same files.
//! 3. Injection: 20 drivers into a WinPE-sized boot image, end to end as a Wimdeck job (from
//!    "Apply drivers" to the catalog pointing at the new, verified, hashed revision), beside
//!    the raw `wimlib-imagex update` of the same files and answer file on a copy of the same
//!    base — alone, and followed by the checks Wimdeck always does (`verify`, `sha256sum`).

mod common;

use std::{
    hint::black_box,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{compare, find_imagex, median, run};
use domain::{
    Domain, Role,
    catalog::{ImageKind, kinds::ImportRequest},
    drivers::{
        analyze::read_package, catalog::DriverFilter, import::DriverImportRequest, inf::InfDriver,
    },
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
    parse_throughput();
    read_throughput();
    injection();
}

/// The architecture sets the generated INFs rotate through.
const ARCH_SETS: [&[Arch]; 3] = [
    &[Arch::Amd64],
    &[Arch::X86, Arch::Amd64],
    &[Arch::X86, Arch::Amd64, Arch::Arm64],
];

/// A package of one of the three classes, in one of the architecture sets.
fn package(i: usize) -> DriverPackage {
    let stem = format!("drv{i:04}");
    let archs = ARCH_SETS[i % ARCH_SETS.len()];
    match i % 3 {
        0 => DriverPackage::network(&stem, archs),
        1 => DriverPackage::storage(&stem, archs),
        _ => DriverPackage::display(&stem, archs),
    }
}

fn encode(text: &str, utf16: bool) -> Vec<u8> {
    if utf16 {
        let mut bytes = vec![0xFF, 0xFE];
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        bytes
    } else {
        text.as_bytes().to_vec()
    }
}

/// An INF like a NIC vendor's: every model section lists `models` devices by subsystem.
fn large_inf(i: usize, models: usize) -> Vec<u8> {
    let pkg = DriverPackage::network(&format!("big{i}"), ARCH_SETS[2]);
    let mut text = String::new();
    for line in pkg.inf_text().split_inclusive("\r\n") {
        text.push_str(line);
        if line.starts_with("[Models.") {
            for m in 0..models {
                text.push_str(&format!(
                    "%Device.Desc% = Install, PCI\\VEN_8086&DEV_{:04X}&SUBSYS_{:04X}{:04X}&REV_{:02X}\r\n",
                    0x1500 + m % 0x100,
                    m,
                    0x8086 ^ i,
                    m % 16
                ));
            }
        }
    }
    encode(&text, true)
}

/// Parses every INF `rounds_per_sample` times per sample for at least ~0.5 s; INFs/s.
fn infs_per_second(infs: &[Vec<u8>], mut parse: impl FnMut(&[u8])) -> f64 {
    let mut samples = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut parsed = 0usize;
        while started.elapsed() < Duration::from_millis(500) {
            for inf in infs {
                parse(inf);
            }
            parsed += infs.len();
        }
        samples.push(parsed as f64 / started.elapsed().as_secs_f64());
    }
    median(samples)
}

/// The floor: the text decoded (UTF-16LE with a BOM, else UTF-8) and split into lines.
fn decode_and_split(bytes: &[u8]) -> usize {
    let text = match bytes {
        [0xFF, 0xFE, rest @ ..] => {
            let units: Vec<u16> = rest
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    };
    text.lines().count()
}

fn parse_throughput() {
    let mixed: Vec<Vec<u8>> = (0..600)
        .map(|i| {
            let pkg = package(i);
            encode(&pkg.inf_text(), pkg.utf16)
        })
        .collect();
    let large: Vec<Vec<u8>> = (0..8).map(|i| large_inf(i, 1200)).collect();
    for (label, infs) in [
        ("generated mix (600 INFs)", &mixed),
        ("large NIC-style (3 × 1,200 models)", &large),
    ] {
        for inf in infs {
            InfDriver::from_bytes(inf).expect("the generated INFs parse");
        }
        let bytes: usize = infs.iter().map(Vec::len).sum();
        let kib = bytes as f64 / infs.len() as f64 / 1024.0;
        let ours = infs_per_second(infs, |inf| {
            black_box(InfDriver::from_bytes(black_box(inf)).ok());
        });
        let floor = infs_per_second(infs, |inf| {
            black_box(decode_and_split(black_box(inf)));
        });
        let mib_s = ours * bytes as f64 / infs.len() as f64 / f64::from(1 << 20);
        println!(
            "| INF parsing, {label}, {kib:.1} KiB each: INFs/s (MiB/s) | {ours:.0} ({mib_s:.0}) | {floor:.0} (decode and split lines) | {:.2} |",
            ours / floor
        );
    }
}

fn read_throughput() {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..300 {
        let mut pkg = package(i);
        pkg.binary_bytes = 256 * 1024;
        pkg.write(&dir.path().join(format!("pkg{i:04}")))
            .expect("package");
    }
    let files: Vec<String> = walk(dir.path())
        .into_iter()
        .map(|p| p.display().to_string())
        .collect();
    let found = read_package(dir.path()).expect("read");
    assert!(
        found.iter().all(|d| d.outcome.is_ok()),
        "every generated driver reads"
    );
    let count = found.len() as f64;
    let mut ours = || {
        black_box(read_package(dir.path()).expect("read"));
    };
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let mut reference = || {
        run(Path::new("sha256sum"), &args);
    };
    let medians = compare(ROUNDS, &mut [&mut ours, &mut reference]);
    let mib = files
        .iter()
        .map(|f| std::fs::metadata(f).expect("file").len())
        .sum::<u64>() as f64
        / f64::from(1 << 20);
    println!(
        "| reading drivers from disk as an import does, 300 packages, {mib:.0} MiB: drivers/s | {:.0} | {:.0} (`sha256sum` of the same files) | {:.2} |",
        count / medians[0],
        count / medians[1],
        medians[1] / medians[0]
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        if entry.path().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out.sort();
    out
}

/// Windows PE 10 amd64 grown to the size of a real one: ~2,400 files, ~700 MiB expanded.
fn winpe_sized_boot_wim(dir: &Path) -> PathBuf {
    let mut tree = WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10);
    for i in 0..2400usize {
        let folder = match i % 4 {
            0 => "Windows/System32",
            1 => "Windows/SysWOW64",
            2 => "Windows/System32/DriverStore/FileRepository",
            _ => "Windows/WinSxS",
        };
        // 16 KiB to ~580 KiB, averaging ~300 KiB.
        let size = 16 * 1024 + (i * 7919) % (576 * 1024);
        tree.files.push((format!("{folder}/file{i:04}.dll"), size));
    }
    let root = dir.join(".winpe-tree");
    tree.write(&root).expect("tree");
    let out = dir.join("boot.wim");
    fixtures::capture(&root, "Microsoft Windows PE (amd64)", &out, true).expect("capture");
    std::fs::remove_dir_all(&root).expect("remove tree");
    out
}

fn injection() {
    let imagex = find_imagex();
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
    let actor = domain.for_actor(&admin);
    let _runner = runtime.block_on(async { Runner::start(&domain, fast_runner_options()) });

    // The boot image, in the catalog.
    let source = winpe_sized_boot_wim(&root);
    let image_id = runtime.block_on(async {
        let job = actor
            .catalog()
            .import(ImportRequest {
                kind: ImageKind::Boot,
                source: source.display().to_string(),
                index: None,
                name: Some("WinPE".into()),
                version: String::new(),
                comment: String::new(),
                architecture: None,
                language: None,
            })
            .await
            .expect("import");
        let job = wait_until_final(&domain, job, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        job.result.expect("result")["image_id"]
            .as_i64()
            .expect("id")
    });
    let base = runtime
        .block_on(domain.catalog().get(image_id))
        .expect("image")
        .file_path;

    // 20 network and storage drivers of real sizes (x86 and amd64 binaries, 0.3–2.6 MiB).
    for i in 0..DRIVERS {
        let stem = format!("inj{i:02}");
        let mut pkg = match i % 2 {
            0 => DriverPackage::network(&stem, ARCH_SETS[1]),
            _ => DriverPackage::storage(&stem, ARCH_SETS[1]),
        };
        pkg.catalog = CatalogState::Valid;
        pkg.binary_bytes = 300 * 1024 + i * 120 * 1024;
        pkg.write(&root.join(format!("drivers/{stem}")))
            .expect("package");
    }
    let drivers = runtime.block_on(async {
        let job = actor
            .drivers()
            .import(DriverImportRequest {
                source: root.join("drivers").display().to_string(),
                name: None,
                categories: Vec::new(),
            })
            .await
            .expect("import");
        let job = wait_until_final(&domain, job, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        actor
            .drivers()
            .list(&DriverFilter::default())
            .await
            .expect("list")
            .drivers
    });
    assert_eq!(drivers.len(), DRIVERS);
    let ids: Vec<i64> = drivers.iter().map(|d| d.id).collect();
    runtime
        .block_on(actor.boot_drivers().add(image_id, &ids))
        .expect("add");

    let apply = || {
        runtime.block_on(async {
            let job = actor.boot_drivers().apply(image_id).await.expect("apply");
            let job = wait_until_final(&domain, job, LONG).await;
            assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        })
    };
    // A first revision, not timed: the reference adds what it holds, in the same places.
    apply();
    let revision = runtime
        .block_on(domain.catalog().get(image_id))
        .expect("image");
    let work = tempfile::tempdir().expect("tempdir");
    Wimlib
        .extract_paths(&revision.file_path, 1, &["/Unattend.xml"], work.path())
        .expect("answer file");
    let mut commands = String::new();
    for injected in &revision.injected_drivers {
        let driver = drivers
            .iter()
            .find(|d| d.id == injected.id)
            .expect("driver");
        let folder = injected.folder.rsplit('\\').next().expect("folder");
        commands.push_str(&format!(
            "add '{}' '/Windows/Wimdeck/Drivers/{folder}'\n",
            driver.store_path.display()
        ));
    }
    commands.push_str(&format!(
        "add '{}' /Unattend.xml\n",
        work.path().join("Unattend.xml").display()
    ));
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

    let mut ours = apply;
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
        "| injecting {DRIVERS} drivers ({driver_mib} MiB) into a {base_mib} MiB boot image, s | {:.2} (job: new revision, verified, hashed, in the catalog) | {:.2} (`cp` + `update --check`) | {:.2} |",
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
