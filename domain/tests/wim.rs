//! The WIM engine's inspection, checked against wimlib-imagex's `wiminfo` and `sha256sum`.

use std::{path::Path, process::Command, sync::Arc};

use domain::{
    fixtures::{self, Arch, WinPeRelease, WindowsTree},
    wim::{self, Architecture, WimError, Wimlib, WinPeSupport},
};

fn capture(dir: &Path, tree: &WindowsTree, name: &str) -> std::path::PathBuf {
    let root = dir.join(format!("tree-{name}"));
    tree.write(&root).expect("tree");
    let wim = dir.join(format!("{name}.wim"));
    fixtures::capture(&root, name, &wim, tree.installation_type == "WindowsPE").expect("capture");
    wim
}

fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `wiminfo` output as a map; image lines use ':', `--header` lines use '='.
fn wiminfo(args: &[&str]) -> std::collections::HashMap<String, String> {
    let separator = if args.contains(&"--header") { '=' } else { ':' };
    tool("wiminfo", args)
        .lines()
        .filter_map(|l| l.split_once(separator))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[tokio::test]
async fn inspection_matches_wiminfo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wim = capture(
        dir.path(),
        &WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10),
        "Microsoft Windows PE (amd64)",
    );
    let path = wim.to_str().expect("utf-8");
    let inspection = wim::inspect(Arc::new(Wimlib), &wim).await.expect("inspect");
    let header = wiminfo(&["--header", path]);
    let image = wiminfo(&[path, "1"]);

    let f = &inspection.file;
    assert_eq!(
        f.guid.replace('-', ""),
        header["GUID"].trim_start_matches("0x"),
        "{header:#?}"
    );
    assert_eq!(f.image_count.to_string(), header["Image Count"]);
    assert_eq!(f.boot_index.to_string(), header["Boot Index"]);
    assert_eq!(f.part_number.to_string(), header["Part Number"]);
    assert_eq!(f.total_parts.to_string(), header["Total Parts"]);
    assert_eq!(f.chunk_size.to_string(), header["Chunk Size"]);
    assert_eq!(format!("{:#x}", f.wim_version), header["Version"]);
    assert_eq!(f.compression, "lzx");
    assert!(f.has_integrity_table);
    assert_eq!(
        f.sha256.as_deref().unwrap_or_default(),
        tool("sha256sum", &[path])
            .split_whitespace()
            .next()
            .unwrap_or_default()
    );
    assert_eq!(
        f.size_bytes,
        std::fs::metadata(&wim).expect("metadata").len()
    );

    let i = &inspection.images[0];
    assert_eq!(i.name, image["Name"]);
    assert_eq!(i.directory_count.to_string(), image["Directory Count"]);
    assert_eq!(i.file_count.to_string(), image["File Count"]);
    assert_eq!(i.total_bytes.to_string(), image["Total Bytes"]);
    assert_eq!(i.architecture, Some(Architecture::Amd64));
    assert_eq!(image["Architecture"], "x86_64");
    let version = i.version.expect("version");
    assert_eq!(version.to_string(), "10.0.26100.1");
    assert_eq!(version.build.to_string(), image["Build"]);
    assert_eq!(i.edition_id.as_deref(), Some(image["Edition ID"].as_str()));
    assert_eq!(i.installation_type.as_deref(), Some("WindowsPE"));
    assert_eq!(
        i.product_name.as_deref(),
        Some(image["Product Name"].as_str())
    );
    assert_eq!(i.languages, vec!["en-US".to_owned()]);
    assert_eq!(i.default_language.as_deref(), Some("en-US"));
    let pe = i.windows_pe.clone().expect("Windows PE");
    assert_eq!(
        (pe.release.as_str(), pe.support),
        ("10", WinPeSupport::Customizable)
    );
}

#[tokio::test]
async fn windows_pe_releases_and_install_images_are_told_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            WindowsTree::winpe(Arch::X86, WinPeRelease::V5),
            Some(("5.0", WinPeSupport::SupportedNotCustomizable)),
        ),
        (
            WindowsTree::winpe(Arch::X86, WinPeRelease::V3_1),
            Some(("3.1", WinPeSupport::SupportedNotCustomizable)),
        ),
        (
            WindowsTree::winpe(Arch::Amd64, WinPeRelease::V4),
            Some(("4.0", WinPeSupport::Unsupported)),
        ),
        (
            WindowsTree::windows11(Arch::Arm64, "Professional", "Windows 11 Pro"),
            None,
        ),
    ];
    for (n, (tree, expected)) in cases.into_iter().enumerate() {
        let wim = capture(dir.path(), &tree, &format!("case{n}"));
        let inspection = wim::inspect(Arc::new(Wimlib), &wim).await.expect("inspect");
        let got = inspection.images[0]
            .windows_pe
            .as_ref()
            .map(|pe| (pe.release.as_str(), pe.support));
        assert_eq!(got, expected, "case {n}");
    }
}

#[tokio::test]
async fn bad_inputs_get_specific_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = capture(
        dir.path(),
        &WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10),
        "good",
    );
    let inspect =
        |path: std::path::PathBuf| async move { wim::inspect(Arc::new(Wimlib), &path).await };

    let missing = dir.path().join("missing.wim");
    assert!(matches!(inspect(missing).await, Err(WimError::NotFound(_))));

    let text = dir.path().join("readme.wim");
    std::fs::write(&text, "this is not a WIM").expect("write");
    let err = inspect(text).await.expect_err("not a WIM");
    assert!(matches!(err, WimError::NotAWim(_)), "{err:?}");
    assert!(err.to_string().contains("is not a WIM file"));

    assert!(
        matches!(
            inspect(dir.path().to_path_buf()).await,
            Err(WimError::NotAWim(_))
        ),
        "a directory"
    );

    let empty = dir.path().join("empty.wim");
    std::fs::write(&empty, b"").expect("write");
    assert!(inspect(empty).await.is_err());

    let bytes = std::fs::read(&good).expect("read");
    let truncated = dir.path().join("truncated.wim");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    let err = inspect(truncated).await.expect_err("truncated");
    assert!(
        matches!(err, WimError::Truncated(_) | WimError::Corrupt { .. }),
        "{err:?}"
    );
    println!("truncated: {err}");
}

mod operations {
    use std::path::{Path, PathBuf};

    use domain::{
        fixtures::{self, Arch, WinPeRelease, WindowsTree},
        wim::{Compression, FileChange, Monitor, WimBackend, WimError, Wimlib},
    };

    use super::tool;

    /// A two-edition install image (Home, Pro) in `dir/install.wim`.
    fn install_wim(dir: &Path) -> PathBuf {
        let home = dir.join("home");
        let pro = dir.join("pro");
        WindowsTree::windows11(Arch::Amd64, "Core", "Windows 11 Home")
            .write(&home)
            .expect("tree");
        let mut pro_tree = WindowsTree::windows11(Arch::Amd64, "Professional", "Windows 11 Pro");
        pro_tree
            .files
            .push(("Windows/System32/gpedit.dll".into(), 90_000));
        pro_tree.write(&pro).expect("tree");
        let wim = dir.join("install.wim");
        fixtures::capture_images(
            &[(&home, "Windows 11 Home"), (&pro, "Windows 11 Pro")],
            &wim,
            None,
        )
        .expect("capture");
        wim
    }

    fn sha256(path: &Path) -> String {
        tool("sha256sum", &[path.to_str().expect("utf-8")])
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// Names in `dir` that are not in `expected`: temporary files must never stay behind.
    fn strays(dir: &Path, expected: &[&str]) -> Vec<String> {
        std::fs::read_dir(dir)
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                !expected.contains(&n.as_str())
                    && (n.starts_with('.') || n.ends_with(".wim") || n.ends_with(".swm"))
            })
            .collect()
    }

    #[test]
    fn extract_index_writes_a_verified_one_image_wim_and_leaves_the_source_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = install_wim(dir.path());
        let before = sha256(&source);
        let output = dir.path().join("pro.wim");
        Wimlib
            .extract_index(&source, 2, &output, &Monitor::unwatched())
            .expect("extract");
        assert_eq!(sha256(&source), before, "the source is never modified");
        tool("wimverify", &[output.to_str().expect("utf-8")]);
        let extracted = Wimlib.inspect(&output, false).expect("inspect");
        let original = Wimlib.inspect(&source, false).expect("inspect");
        assert_eq!(extracted.file.image_count, 1);
        assert_eq!(extracted.images[0].name, "Windows 11 Pro");
        assert_eq!(
            extracted.images[0].file_count,
            original.images[1].file_count
        );
        assert_eq!(
            extracted.images[0].total_bytes,
            original.images[1].total_bytes
        );
        assert_eq!(
            extracted.images[0].edition_id.as_deref(),
            Some("Professional")
        );
        assert!(extracted.file.has_integrity_table);
        assert!(strays(dir.path(), &["install.wim", "pro.wim"]).is_empty());

        let err = Wimlib
            .extract_index(&source, 3, &dir.path().join("x.wim"), &Monitor::unwatched())
            .expect_err("index");
        assert!(
            matches!(
                err,
                WimError::NoSuchImage {
                    index: 3,
                    count: 2,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = Wimlib
            .extract_index(&source, 1, &output, &Monitor::unwatched())
            .expect_err("exists");
        assert!(matches!(err, WimError::OutputExists(_)), "{err:?}");
        assert_eq!(
            Wimlib.inspect(&output, false).expect("inspect").images[0].name,
            "Windows 11 Pro",
            "the existing file is untouched"
        );
    }

    #[test]
    fn export_recompresses_every_image_and_keeps_the_boot_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = super::capture(
            dir.path(),
            &WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10),
            "Microsoft Windows PE (amd64)",
        );
        let monitor = Monitor::unwatched();
        let output = dir.path().join("boot-fast.wim");
        Wimlib
            .export(&source, &output, Compression::Xpress, &monitor)
            .expect("export");
        tool("wimverify", &[output.to_str().expect("utf-8")]);
        let exported = Wimlib.inspect(&output, false).expect("inspect");
        assert_eq!(exported.file.compression, "xpress");
        assert_eq!(exported.file.boot_index, 1);
        assert_eq!(
            exported.images[0].file_count,
            Wimlib.inspect(&source, false).expect("inspect").images[0].file_count
        );
        let snapshot = monitor.progress.done();
        assert!(snapshot > 0, "progress was reported");
    }

    #[test]
    fn verify_passes_a_good_wim_and_catches_a_flipped_bit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = install_wim(dir.path());
        Wimlib
            .verify(&source, &Monitor::unwatched())
            .expect("a good WIM verifies");
        let mut bytes = std::fs::read(&source).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x10;
        let damaged = dir.path().join("damaged.wim");
        std::fs::write(&damaged, &bytes).expect("write");
        let err = Wimlib
            .verify(&damaged, &Monitor::unwatched())
            .expect_err("damaged");
        assert!(matches!(err, WimError::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn split_writes_parts_that_wimlib_reads_back_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = install_wim(dir.path());
        let parts = Wimlib
            .split(
                &source,
                &dir.path().join("install.swm"),
                256 * 1024,
                &Monitor::unwatched(),
            )
            .expect("split");
        assert!(parts.len() >= 2, "{parts:?}");
        assert_eq!(
            parts[1].file_name().and_then(|n| n.to_str()),
            Some("install2.swm")
        );
        let first = Wimlib.inspect(&parts[0], false).expect("inspect part 1");
        assert_eq!(
            (first.file.part_number, usize::from(first.file.total_parts)),
            (1, parts.len())
        );
        let second = Wimlib.inspect(&parts[1], false).expect("inspect part 2");
        assert_eq!(second.file.part_number, 2);
        let pattern = format!("{}/install*.swm", dir.path().display());
        tool(
            "wimverify",
            &[parts[0].to_str().expect("utf-8"), "--ref", &pattern],
        );
        // Joined again, and one index extracted straight from the parts: the same content
        // (wimdir --detailed lists every file's times, attributes and stream SHA-1s; where the
        // data sits in the file may differ) as the original.
        let joined = dir.path().join("joined.wim");
        Wimlib
            .join(&parts[0], &joined, &Monitor::unwatched())
            .expect("join");
        let extracted = dir.path().join("pro.wim");
        Wimlib
            .extract_index(&parts[0], 2, &extracted, &Monitor::unwatched())
            .expect("extract from the parts");
        for wim in [&joined, &extracted] {
            tool("wimverify", &[wim.to_str().expect("utf-8")]);
        }
        let listing = |wim: &Path, index: &str| {
            tool(
                "wimdir",
                &[wim.to_str().expect("utf-8"), index, "--detailed"],
            )
            .lines()
            .filter(|l| {
                ![
                    "Offset in WIM",
                    "Compressed size",
                    "Part Number",
                    "Flags",
                    "Reference Count",
                ]
                .iter()
                .any(|placement| l.starts_with(placement))
            })
            .collect::<Vec<_>>()
            .join("\n")
        };
        for index in ["1", "2"] {
            assert_eq!(listing(&joined, index), listing(&source, index));
        }
        assert_eq!(listing(&extracted, "1"), listing(&source, "2"));
        assert_eq!(
            Wimlib.inspect(&joined, false).expect("joined").images,
            Wimlib.inspect(&source, false).expect("source").images
        );
        // A part missing: refused by name, nothing written.
        std::fs::rename(&parts[1], dir.path().join("aside")).expect("move");
        let err = Wimlib
            .join(
                &parts[0],
                &dir.path().join("never.wim"),
                &Monitor::unwatched(),
            )
            .expect_err("incomplete");
        assert!(err.to_string().contains("but install2.swm"), "{err}");
        std::fs::rename(dir.path().join("aside"), &parts[1]).expect("move back");
        let mut expected: Vec<String> = parts
            .iter()
            .filter_map(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        expected.extend(["install.wim".into(), "joined.wim".into(), "pro.wim".into()]);
        let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
        assert!(
            strays(dir.path(), &expected).is_empty(),
            "{:?}",
            strays(dir.path(), &expected)
        );
    }

    #[test]
    fn a_cancelled_operation_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = install_wim(dir.path());
        let monitor = Monitor::unwatched();
        monitor.cancel.cancel();
        let output = dir.path().join("export.wim");
        let err = Wimlib
            .export(&source, &output, Compression::Lzx, &monitor)
            .expect_err("cancelled");
        assert!(matches!(err, WimError::Cancelled), "{err:?}");
        assert!(!output.exists());
        let err = Wimlib
            .split(
                &source,
                &dir.path().join("install.swm"),
                256 * 1024,
                &monitor,
            )
            .expect_err("cancelled");
        assert!(matches!(err, WimError::Cancelled), "{err:?}");
        assert!(
            strays(dir.path(), &["install.wim"]).is_empty(),
            "{:?}",
            strays(dir.path(), &["install.wim"])
        );
    }

    #[test]
    fn directories_list_lazily_with_sizes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wim = super::capture(
            dir.path(),
            &WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10),
            "PE",
        );
        let root = Wimlib.list_dir(&wim, 1, "/").expect("root");
        assert_eq!(
            root.iter()
                .map(|e| (e.name.as_str(), e.is_dir))
                .collect::<Vec<_>>(),
            vec![("Windows", true)]
        );
        let pxe = Wimlib.list_dir(&wim, 1, r"Windows\Boot\PXE").expect("pxe");
        let names: Vec<&str> = pxe.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["abortpxe.com", "bootmgr.exe", "pxeboot.n12", "wdsnbp.com"]
        );
        assert_eq!(pxe[1].size, 128_000);
        let system32 = Wimlib
            .list_dir(&wim, 1, "/Windows/System32")
            .expect("system32");
        assert!(
            system32[0].is_dir
                && system32
                    .iter()
                    .any(|e| e.name == "kernel32.dll" && !e.is_dir)
        );
        assert!(matches!(
            Wimlib.list_dir(&wim, 1, "/Nope"),
            Err(WimError::NoSuchPath { .. })
        ));
        assert!(matches!(
            Wimlib.list_dir(&wim, 2, "/"),
            Err(WimError::NoSuchImage { .. })
        ));
    }

    #[test]
    fn changes_are_applied_to_a_new_wim_and_read_back_by_wimextract() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = super::capture(
            dir.path(),
            &WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10),
            "PE",
        );
        let before = sha256(&source);

        let driver = dir.path().join("e1d68x64");
        std::fs::create_dir(&driver).expect("dir");
        std::fs::write(driver.join("e1d68x64.inf"), "[Version]\r\nClass=Net\r\n").expect("inf");
        std::fs::write(driver.join("e1d68x64.sys"), fixtures::filler(40_000, 3)).expect("sys");
        let changes = [
            FileChange::Add {
                source: driver.clone(),
                target: r"\Drivers\e1d68x64".into(),
            },
            FileChange::Delete {
                target: "/Windows/Boot/PXE/abortpxe.com".into(),
            },
        ];
        let output = dir.path().join("boot-new.wim");
        Wimlib
            .apply_changes(&source, 1, &changes, None, &output, &Monitor::unwatched())
            .expect("apply");
        assert_eq!(sha256(&source), before, "the source is never modified");
        tool("wimverify", &[output.to_str().expect("utf-8")]);

        let listed = Wimlib
            .list_dir(&output, 1, "/Drivers/e1d68x64")
            .expect("list");
        assert_eq!(
            listed.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            vec!["e1d68x64.inf", "e1d68x64.sys"]
        );
        let pxe = Wimlib
            .list_dir(&output, 1, "/Windows/Boot/PXE")
            .expect("list");
        assert!(!pxe.iter().any(|e| e.name == "abortpxe.com"), "deleted");

        let out_dir = dir.path().join("extracted");
        tool(
            "wimextract",
            &[
                output.to_str().expect("utf-8"),
                "1",
                "/Drivers/e1d68x64/e1d68x64.sys",
                "--dest-dir",
                out_dir.to_str().expect("utf-8"),
            ],
        );
        assert_eq!(
            std::fs::read(out_dir.join("e1d68x64.sys")).expect("read"),
            fixtures::filler(40_000, 3)
        );

        let missing = [FileChange::Delete {
            target: "/Windows/nothing-here.txt".into(),
        }];
        let err = Wimlib
            .apply_changes(
                &source,
                1,
                &missing,
                None,
                &dir.path().join("x.wim"),
                &Monitor::unwatched(),
            )
            .expect_err("missing");
        assert!(matches!(err, WimError::NoSuchPath { .. }), "{err:?}");
        assert!(!dir.path().join("x.wim").exists());
    }
}
