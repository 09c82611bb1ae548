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
//!
//! (Injecting drivers into a boot image is a build: `benches/boot.rs`.)

mod common;

use std::{
    hint::black_box,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use common::{compare, median, run};
use domain::{
    drivers::{analyze::read_package, inf::InfDriver},
    fixtures::{Arch, drivers::DriverPackage},
};

const ROUNDS: usize = 3;

fn main() {
    println!("| measurement | Wimdeck | reference | ratio |");
    println!("| --- | --- | --- | --- |");
    parse_throughput();
    read_throughput();
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
