//! WIM engine benchmarks (not tests): Wimdeck against `wimlib-imagex` 1.14.4 built from the same
//! bundled source, doing the same work on the same ~1 GiB generated two-image WIM in one run.
//! Run:
//!
//!     cargo bench -p domain --bench wim
//!
//! Each operation runs 3 times per side, alternating which goes first; the median is reported
//! and the ratio is Wimdeck ÷ wimlib-imagex (lower is better; 1.05 means 5% slower).

mod common;

use std::path::{Path, PathBuf};

use common::{find_imagex, run};

use domain::{
    fixtures::{self, Arch, WindowsTree},
    wim::{Compression, Monitor, WimBackend, Wimlib},
};

const ROUNDS: usize = 3;

fn main() {
    let imagex = find_imagex();
    let version = run(&imagex, &["--version"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let source = make_source(dir.path());
    let size = std::fs::metadata(&source).expect("source").len();
    println!("reference: {}", version.lines().next().unwrap_or_default());
    println!("source: {} MiB on disk, 2 images\n", size >> 20);
    println!("| operation | Wimdeck, s | wimlib-imagex, s | ratio |");
    println!("| --- | --- | --- | --- |");

    let src = source.to_str().expect("utf-8");
    compare(
        "inspect (header and all image metadata)",
        || {
            Wimlib.inspect(&source, false).expect("inspect");
        },
        || {
            run(&imagex, &["info", src]);
        },
    );
    compare(
        "inspect with SHA-256 of the file (vs `info` + `sha256sum`)",
        || {
            Wimlib.inspect(&source, true).expect("inspect");
        },
        || {
            run(&imagex, &["info", src]);
            run(Path::new("sha256sum"), &[src]);
        },
    );
    let out = dir.path().join("out.wim");
    let out_str = out.to_str().expect("utf-8").to_owned();
    compare(
        "export all images, LZX, integrity table, verified (vs `export` + `verify`)",
        || {
            Wimlib
                .export(&source, &out, Compression::Lzx, &Monitor::unwatched())
                .expect("export");
            std::fs::remove_file(&out).expect("remove");
        },
        || {
            run(
                &imagex,
                &["export", src, "all", &out_str, "--compress=LZX", "--check"],
            );
            run(&imagex, &["verify", &out_str]);
            std::fs::remove_file(&out).expect("remove");
        },
    );
    compare(
        "extract index 2 into a new WIM, verified (vs `export 2` + `verify`)",
        || {
            Wimlib
                .extract_index(&source, 2, &out, &Monitor::unwatched())
                .expect("extract");
            std::fs::remove_file(&out).expect("remove");
        },
        || {
            run(
                &imagex,
                &["export", src, "2", &out_str, "--compress=LZX", "--check"],
            );
            run(&imagex, &["verify", &out_str]);
            std::fs::remove_file(&out).expect("remove");
        },
    );
}

fn compare(label: &str, mut ours: impl FnMut(), mut reference: impl FnMut()) {
    let medians = common::compare(ROUNDS, &mut [&mut ours, &mut reference]);
    let (ours, theirs) = (medians[0], medians[1]);
    println!(
        "| {label} | {ours:.3} | {theirs:.3} | {:.3} |",
        ours / theirs
    );
}

/// Two Windows 11 editions of ~512 MiB each, captured with LZX.
fn make_source(dir: &Path) -> PathBuf {
    let mut trees = Vec::new();
    for (n, (edition, name)) in [
        ("Core", "Windows 11 Home"),
        ("Professional", "Windows 11 Pro"),
    ]
    .iter()
    .enumerate()
    {
        let mut tree = WindowsTree::windows11(Arch::Amd64, edition, name);
        for i in 0..200 {
            tree.files.push((
                format!("Windows/System32/DriverStore/pkg{}/file{i}.bin", i % 20),
                2_680_000 + n * 1000,
            ));
        }
        let root = dir.join(format!("tree{n}"));
        tree.write(&root).expect("tree");
        trees.push((root, (*name).to_owned()));
    }
    let images: Vec<(&Path, &str)> = trees
        .iter()
        .map(|(p, n)| (p.as_path(), n.as_str()))
        .collect();
    let source = dir.join("install.wim");
    fixtures::capture_images(&images, &source, None).expect("capture");
    for (root, _) in &trees {
        std::fs::remove_dir_all(root).expect("remove tree");
    }
    source
}
