//! Helpers the benchmarks share: the reference `wimlib-imagex`, running a program, and timing
//! two sides of a comparison in alternating order.

// Each benchmark compiles this module on its own and uses a part of it.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

/// `wimlib-imagex` from the bundled wimlib build that the benchmarks link.
pub fn find_imagex() -> PathBuf {
    let exe = std::env::current_exe().expect("exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let mut candidates: Vec<(std::time::SystemTime, PathBuf)> =
        std::fs::read_dir(profile_dir.join("build"))
            .expect("build dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("wimlib-sys-"))
            .map(|e| e.path().join("out/bin/wimlib-imagex"))
            .filter(|p| p.is_file())
            .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
            .collect();
    candidates.sort();
    candidates
        .pop()
        .map(|(_, p)| p)
        .expect("wimlib-imagex from the bundled build")
}

/// Runs `program` and returns its standard output; panics when it fails.
pub fn run(program: &Path, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().expect("run");
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Times `ours` and each reference `rounds` times, rotating which goes first; returns the
/// median seconds of each, ours first.
pub fn compare(rounds: usize, sides: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    let mut times = vec![Vec::new(); sides.len()];
    for round in 0..rounds {
        for offset in 0..sides.len() {
            let side = (round + offset) % sides.len();
            let started = Instant::now();
            (sides[side])();
            times[side].push(started.elapsed().as_secs_f64());
        }
    }
    times.into_iter().map(median).collect()
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
