//! A corpus of INFs written from the INF reference in the shapes vendors ship them (NetAdapterCx
//! and NDIS network adapters, Wi-Fi, StorPort and inbox-style storage miniports, NVMe, USB, a
//! chipset null driver, an extension INF, a primitive driver, HID; UTF-16LE with and without a
//! BOM, ANSI, UTF-8). `tests/inf-corpus/expected.json` says what each one says; the reader must
//! read exactly that, and an import of them all must classify each as the catalog would.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use domain::{drivers::inf::InfDriver, jobs::JobState, testing::BACKENDS};
use serde::Deserialize;

use super::Setup;

#[derive(Debug, Deserialize)]
struct Expected {
    class: String,
    provider: String,
    version: Option<String>,
    date: Option<String>,
    architectures: Vec<String>,
    hardware_ids: Vec<String>,
    /// `[path, architecture or null]`, with `"by name"` for a file only CopyFiles names.
    files: Vec<serde_json::Value>,
    warnings: usize,
    /// `imported`, or `rejected: <part of the reason>`.
    outcome: String,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/inf-corpus")
}

fn expected() -> BTreeMap<String, Expected> {
    let text = std::fs::read_to_string(corpus().join("expected.json")).expect("expected.json");
    serde_json::from_str(&text).expect("expected.json")
}

/// What the reader found, in the shape of `expected.json`.
fn files_of(driver: &InfDriver) -> Vec<serde_json::Value> {
    driver
        .files
        .iter()
        .map(|f| {
            let path = f.path.to_string_lossy().replace('\\', "/");
            let arch = f.architecture.map(|a| a.as_str());
            if f.by_name {
                serde_json::json!([path, arch, "by name"])
            } else {
                serde_json::json!([path, arch])
            }
        })
        .collect()
}

#[test]
fn every_inf_of_the_corpus_is_read_as_written() {
    let expected = expected();
    let on_disk = std::fs::read_dir(corpus())
        .expect("corpus")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "inf"))
        })
        .count();
    assert_eq!(on_disk, expected.len(), "every INF has its expectation");
    assert!(expected.len() >= 40, "the corpus keeps at least 40 INFs");
    for (name, want) in &expected {
        let bytes = std::fs::read(corpus().join(name)).expect("inf");
        let driver = InfDriver::from_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let architectures: Vec<&str> = driver.architectures.iter().map(|a| a.as_str()).collect();
        let hardware_ids: Vec<&str> = driver
            .models
            .iter()
            .map(|m| m.hardware_id.as_str())
            .collect();
        assert_eq!(
            (
                driver.class.as_str(),
                driver.provider.as_str(),
                driver.version.as_deref(),
                driver.date.as_deref()
            ),
            (
                want.class.as_str(),
                want.provider.as_str(),
                want.version.as_deref(),
                want.date.as_deref()
            ),
            "{name}"
        );
        assert_eq!(architectures, want.architectures, "{name}");
        assert_eq!(hardware_ids, want.hardware_ids, "{name}");
        assert_eq!(files_of(&driver), want.files, "{name}");
        assert_eq!(
            driver.warnings.len(),
            want.warnings,
            "{name}: {:#?}",
            driver.warnings
        );
    }
}

/// Every INF in a folder of its own with the files it names (by name at the folder's root),
/// imported as one package: each is imported or refused as `expected.json` says.
#[tokio::test]
async fn a_package_of_the_corpus_is_classified_as_the_catalog_would() {
    let expected = expected();
    for backend in BACKENDS {
        let s = Setup::new(backend).await;
        let package = s.root.join("corpus");
        for (name, want) in &expected {
            let stem = name.trim_end_matches(".inf");
            let folder = package.join(stem);
            std::fs::create_dir_all(&folder).expect("folder");
            std::fs::copy(corpus().join(name), folder.join(name)).expect("inf");
            for file in &want.files {
                let path = folder.join(file[0].as_str().expect("path"));
                std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
                std::fs::write(&path, format!("{stem}: {}", file[0])).expect("file");
            }
        }
        let job = s.import(&package, &[]).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let result = job.result.expect("result");
        let outcomes = result["drivers"].as_array().expect("outcomes");
        assert_eq!(outcomes.len(), expected.len(), "{result:#}");
        for (name, want) in &expected {
            let inf = format!("{}/{name}", name.trim_end_matches(".inf"));
            let got = outcomes
                .iter()
                .find(|o| o["inf"] == inf.as_str())
                .unwrap_or_else(|| panic!("{inf}: no outcome in {result:#}"));
            match want.outcome.split_once(": ") {
                None => assert_eq!(got["outcome"], "imported", "{inf}: {got:#}"),
                Some((outcome, reason)) => {
                    assert_eq!(got["outcome"], outcome, "{inf}: {got:#}");
                    let said = got["reason"].as_str().unwrap_or_default();
                    assert!(said.contains(reason), "{inf}: {said}");
                }
            }
        }
    }
}
