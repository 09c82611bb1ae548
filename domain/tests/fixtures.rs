//! The fixture generator's output, checked with independent readers: Debian's `hivexget`
//! (libhivex) for the registry hives, `wiminfo` (wimtools) for the captured WIMs.

use std::{path::Path, process::Command};

use domain::fixtures::{self, Arch, WinPeRelease, WindowsTree};

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{program} is required for this test (scripts/test.sh installs it): {e}")
        });
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hivexget(hive: &Path, key: &str, value: &str) -> String {
    run("hivexget", &[hive.to_str().expect("utf-8"), key, value])
        .trim()
        .to_owned()
}

#[test]
fn registry_hives_read_back_with_libhivex() {
    let dir = tempfile::tempdir().expect("tempdir");
    WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10)
        .write(dir.path())
        .expect("write tree");
    let config = dir.path().join("Windows/System32/config");
    let software = config.join("SOFTWARE");
    let key = r"\Microsoft\Windows NT\CurrentVersion";
    assert_eq!(hivexget(&software, key, "EditionID"), "WindowsPE");
    assert_eq!(hivexget(&software, key, "CurrentBuild"), "26100");
    assert_eq!(hivexget(&software, key, "CurrentMajorVersionNumber"), "10");
    let system = config.join("SYSTEM");
    assert_eq!(
        hivexget(
            &system,
            r"\ControlSet001\Control\Nls\Language",
            "InstallLanguage"
        ),
        "0409"
    );
    assert_eq!(
        hivexget(&system, r"\ControlSet001\Control\Windows", "CSDBuildNumber"),
        "1"
    );
}

/// `wiminfo FILE 1` as a map of its "Key: value" lines.
fn wiminfo(wim: &Path) -> std::collections::HashMap<String, String> {
    run("wiminfo", &[wim.to_str().expect("utf-8"), "1"])
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn captured_images_carry_the_windows_metadata_wimlib_detects() {
    let cases = [
        (
            WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10),
            "x86_64",
            "10",
            "0",
            "26100",
        ),
        (
            WindowsTree::winpe(Arch::X86, WinPeRelease::V10),
            "x86",
            "10",
            "0",
            "26100",
        ),
        (
            WindowsTree::winpe(Arch::Arm64, WinPeRelease::V10),
            "ARM64",
            "10",
            "0",
            "26100",
        ),
        (
            WindowsTree::winpe(Arch::Amd64, WinPeRelease::V5),
            "x86_64",
            "6",
            "3",
            "9600",
        ),
        (
            WindowsTree::winpe(Arch::X86, WinPeRelease::V3_1),
            "x86",
            "6",
            "1",
            "7601",
        ),
        (
            WindowsTree::windows11(Arch::Amd64, "Professional", "Windows 11 Pro"),
            "x86_64",
            "10",
            "0",
            "26100",
        ),
    ];
    for (tree, arch, major, minor, build) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("tree");
        tree.write(&root).expect("write tree");
        let wim = dir.path().join("image.wim");
        let bootable = tree.installation_type == "WindowsPE";
        fixtures::capture(&root, "Fixture image", &wim, bootable).expect("capture");
        let info = wiminfo(&wim);
        let field = |k: &str| info.get(k).cloned().unwrap_or_default();
        assert_eq!(field("Architecture"), arch, "{info:#?}");
        assert_eq!(field("Edition ID"), tree.edition_id, "{info:#?}");
        assert_eq!(field("Installation Type"), tree.installation_type);
        assert_eq!(field("Major Version"), major);
        assert_eq!(field("Minor Version"), minor);
        assert_eq!(field("Build"), build);
        assert_eq!(field("Service Pack Build"), tree.sp_build.to_string());
        assert_eq!(field("Languages"), "en-US");
        assert_eq!(field("Default Language"), "en-US");
        assert_eq!(field("Product Type"), "WinNT");
        assert_eq!(field("Name"), "Fixture image");
        let size = std::fs::metadata(&wim).expect("wim").len();
        assert!(size < 2 << 20, "fixtures stay small: {size} bytes");
    }
}

#[test]
fn hives_wimdeck_rewrites_read_back_with_libhivex() {
    use domain::regf::{Hive, RegValue};
    let dir = tempfile::tempdir().expect("tempdir");
    // A fixture SYSTEM hive, read, changed and written again, as a build does it.
    WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10)
        .write(dir.path())
        .expect("write tree");
    let system = dir.path().join("Windows/System32/config/SYSTEM");
    let mut hive = Hive::parse(&std::fs::read(&system).expect("read")).expect("parse");
    hive.minor_version = 5;
    let fbwf = hive.root.find_or_new(r"ControlSet001\Services\FBWF");
    fbwf.set_value("WinPECacheThreshold", &RegValue::Dword(256));
    // Larger than one cell holds: written as a big-data record.
    let big = "x".repeat(20_000);
    fbwf.set_value("Large", &RegValue::Sz(big.clone()));
    hive.root
        .find_or_new(r"ControlSet001\Control\Keyboard Layouts\00000411")
        .set_value("Layout Text", &RegValue::Sz("日本語".into()));
    // More subkeys than one `lh` list holds: an `ri` index, as Windows writes it.
    for i in 0..2400 {
        hive.root
            .find_or_new(&format!(r"ControlSet001\Enum\PCI\VEN_{i:04X}"));
    }
    let rewritten = dir.path().join("SYSTEM.new");
    std::fs::write(&rewritten, hive.to_bytes()).expect("write");
    let fbwf_key = r"\ControlSet001\Services\FBWF";
    assert_eq!(hivexget(&rewritten, fbwf_key, "WinPECacheThreshold"), "256");
    assert_eq!(hivexget(&rewritten, fbwf_key, "Large"), big);
    assert_eq!(
        hivexget(
            &rewritten,
            r"\ControlSet001\Control\Keyboard Layouts\00000411",
            "Layout Text"
        ),
        "日本語"
    );
    // A key with no values lists none (and is there: a missing key is an error).
    let listed = run(
        "hivexget",
        &[
            rewritten.to_str().expect("utf-8"),
            r"\ControlSet001\Enum\PCI\VEN_018F",
        ],
    );
    assert_eq!(listed.trim(), "");
    // What was there before the change is still there.
    assert_eq!(
        hivexget(
            &rewritten,
            r"\ControlSet001\Control\Nls\Language",
            "InstallLanguage"
        ),
        "0409"
    );
}
