//! Packages, archives and signatures, on packages from the fixture generator.

use std::path::Path;

use super::{
    analyze::{FoundDriver, ReadDriver, read_package},
    package::{Limits, PackageError, PackageFormat, unpack},
    signing::{CatalogFile, Signature},
};
use crate::fixtures::{
    Arch,
    drivers::{
        CatalogState, DriverPackage, cab_folder, catalog_file, hostile_archives, zip_folder,
    },
};

fn read_one(dir: &Path) -> ReadDriver {
    let mut found = read_package(dir).expect("read");
    assert_eq!(found.len(), 1, "{found:?}");
    let FoundDriver { outcome, .. } = found.remove(0);
    outcome.expect("a driver")
}

#[test]
fn a_signed_network_package_is_read_with_its_files_and_signer() {
    let dir = tempfile::tempdir().expect("tempdir");
    DriverPackage::network("e1d", &[Arch::Amd64, Arch::Arm64])
        .write(dir.path())
        .expect("write");
    let driver = read_one(dir.path());
    assert_eq!(driver.inf.class, "Net");
    assert_eq!(driver.inf_name, "e1d.inf");
    assert_eq!(driver.name, "Contoso Gigabit Ethernet Connection (e1d)");
    let files: Vec<&str> = driver.files.iter().map(|f| f.relative.as_str()).collect();
    assert_eq!(
        files,
        [
            "e1d.inf",
            "amd64/e1damd64.sys",
            "arm64/e1darm64.sys",
            "e1d.cat"
        ]
    );
    assert_eq!(
        driver.signature,
        Signature::Signed {
            signer: "Contoso Networks".into(),
            catalog: "e1d.cat".into()
        }
    );
    assert_eq!(driver.hardware_ids.len(), 2);
    assert!(driver.hardware_ids[0].id.starts_with("PCI\\VEN_8086&DEV_"));
}

#[test]
fn unsigned_drivers_say_why() {
    let cases = [
        (
            CatalogState::Tampered,
            "e1d.cat does not list the hash of amd64/e1damd64.sys",
        ),
        (
            CatalogState::Missing,
            "its catalog file e1d.cat is not in the package",
        ),
        (
            CatalogState::None,
            "its INF names no catalog file (CatalogFile)",
        ),
    ];
    for (state, reason) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut package = DriverPackage::network("e1d", &[Arch::Amd64]);
        package.catalog = state;
        package.write(dir.path()).expect("write");
        assert_eq!(
            read_one(dir.path()).signature,
            Signature::Unsigned {
                reason: reason.into()
            },
            "{state:?}"
        );
    }
}

#[test]
fn catalog_files_that_are_not_catalogs_are_refused_with_a_reason() {
    let good = catalog_file("Contoso", &[vec![1; 32]]);
    let parsed = CatalogFile::parse(&good).expect("parses");
    assert_eq!(parsed.signer.as_deref(), Some("Contoso"));
    assert!(parsed.hashes.contains(&vec![1; 32]));
    assert!(CatalogFile::parse(b"not DER at all").is_err());
    assert!(CatalogFile::parse(&good[..good.len() / 2]).is_err());
    // Every truncation and every single-byte change gives a value or an error, never a panic.
    for cut in 0..good.len() {
        let _ = CatalogFile::parse(&good[..cut]);
    }
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0xA5;
        let _ = CatalogFile::parse(&bad);
    }
}

#[test]
fn a_package_reads_the_same_from_a_folder_a_zip_and_a_cab() {
    let dir = tempfile::tempdir().expect("tempdir");
    let folder = dir.path().join("pkg");
    DriverPackage::storage("iaStorVD", &[Arch::X86, Arch::Amd64])
        .write(&folder)
        .expect("write");
    DriverPackage::network("rt640", &[Arch::Amd64])
        .write(&folder.join("lan"))
        .expect("write");
    zip_folder(&folder, &dir.path().join("pkg.zip")).expect("zip");
    cab_folder(&folder, &dir.path().join("pkg.cab")).expect("cab");
    let mut hashes = Vec::new();
    for (source, format) in [
        (folder.clone(), PackageFormat::Folder),
        (dir.path().join("pkg.zip"), PackageFormat::Zip),
        (dir.path().join("pkg.cab"), PackageFormat::Cab),
    ] {
        let dest = dir.path().join(format!("out-{format:?}"));
        let unpacked = unpack(&source, &dest, &Limits::default()).expect("unpack");
        assert_eq!(unpacked.format, format);
        let found = read_package(&dest).expect("read");
        let names: Vec<&str> = found.iter().map(|f| f.inf_path.as_str()).collect();
        assert_eq!(names, ["iaStorVD.inf", "lan/rt640.inf"], "{format:?}");
        hashes.push(
            found
                .iter()
                .map(|f| f.outcome.as_ref().expect("driver").content_hash.clone())
                .collect::<Vec<_>>(),
        );
        assert!(
            found
                .iter()
                .all(|f| f.outcome.as_ref().expect("driver").signature.is_signed())
        );
    }
    assert_eq!(hashes[0], hashes[1]);
    assert_eq!(hashes[0], hashes[2]);
}

#[test]
fn hostile_archives_are_refused_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hostile = hostile_archives(&dir.path().join("hostile")).expect("fixtures");
    let limits = Limits {
        max_entries: 20_000,
        ..Limits::default()
    };
    let outside = dir.path().join("evil.inf");
    type Expect = fn(&PackageError) -> bool;
    let cases: [(&Path, Expect); 6] = [
        (
            &hostile.zip_slip,
            |e| matches!(e, PackageError::Escapes { entry } if entry == "../../evil.inf"),
        ),
        (&hostile.symlink, |e| matches!(e, PackageError::Link { .. })),
        (&hostile.bomb, |e| matches!(e, PackageError::Bomb { .. })),
        (&hostile.many_entries, |e| {
            matches!(e, PackageError::TooManyEntries { max: 20_000 })
        }),
        (&hostile.not_an_archive, |e| {
            matches!(e, PackageError::UnknownFormat(_))
        }),
        (&hostile.truncated, |e| {
            matches!(e, PackageError::Corrupt(_))
        }),
    ];
    for (i, (archive, expected)) in cases.iter().enumerate() {
        let dest = dir.path().join("work").join(i.to_string());
        let error = unpack(archive, &dest, &limits).expect_err("refused");
        assert!(expected(&error), "{}: {error}", archive.display());
        assert!(!dest.exists(), "{} left files behind", archive.display());
    }
    assert!(!outside.exists());
    // A folder with a symbolic link in it is refused too.
    let folder = dir.path().join("linked");
    DriverPackage::network("e1d", &[Arch::Amd64])
        .write(&folder)
        .expect("write");
    std::os::unix::fs::symlink("/etc", folder.join("etc")).expect("symlink");
    let error = unpack(&folder, &dir.path().join("linked-out"), &limits).expect_err("refused");
    assert!(matches!(error, PackageError::Link { entry } if entry == "etc"));
}

#[test]
fn an_inf_whose_files_are_missing_is_rejected_with_their_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    DriverPackage::network("e1d", &[Arch::Amd64])
        .write(dir.path())
        .expect("write");
    std::fs::remove_file(dir.path().join("amd64/e1damd64.sys")).expect("remove");
    let found = read_package(dir.path()).expect("read");
    assert_eq!(
        found[0].outcome.as_ref().expect_err("rejected"),
        "files the INF needs are not in the package: amd64/e1damd64.sys"
    );
}

#[test]
fn file_names_match_ignoring_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    DriverPackage::network("e1d", &[Arch::Amd64])
        .write(dir.path())
        .expect("write");
    std::fs::rename(dir.path().join("amd64"), dir.path().join("AMD64")).expect("rename");
    let driver = read_one(dir.path());
    assert!(
        driver
            .files
            .iter()
            .any(|f| f.relative == "AMD64/e1damd64.sys")
    );
    assert!(driver.signature.is_signed());
}
