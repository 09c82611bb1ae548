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
        f.sha256,
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
