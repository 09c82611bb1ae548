//! Prestaged content with real processes: a DP enabled for it (`wimdeck dp serve`) waits for
//! the file; `wimdeck dp import-prestaged` beside it brings the content, and the DP installs it
//! without fetching a byte. Imports killed mid-way never list half a version, and the DP's
//! start sweeps what they left.

use domain::{
    authz::ObjectType,
    content::ContentObject,
    distribution::{
        PrestagedBehavior, assign::ContentSettings, assign::DistState, points::DpSettings,
    },
    testing::{Backend, wait_until_final},
};

use super::{SETTLE, Site, admin, distribute, enroll, os_image, pair, sha256, wait_state, wimdeck};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dp_enabled_for_prestaged_content_installs_what_import_prestaged_brings() {
    let site = Site::start(Backend::Sqlite).await;
    let domain = site.domain().await;
    let admin = admin(&domain).await;
    let image = os_image(&site, &domain, &admin, "Offline", 4).await;
    let object = ContentObject::new(ObjectType::OsImage, image);
    let expected = domain.catalog().get(image).await.expect("image").sha256;
    domain
        .for_actor(&admin)
        .distribution()
        .set_settings(
            object,
            ContentSettings {
                prestaged: PrestagedBehavior::Manual,
                ..ContentSettings::default()
            },
        )
        .await
        .expect("settings");
    let mut dp = enroll(
        &site,
        &domain,
        &admin,
        "Across the sea",
        DpSettings {
            prestaged_enabled: true,
            ..DpSettings::default()
        },
        None,
    )
    .await;
    dp.serve();
    distribute(&domain, &admin, object, vec![dp.id]).await;
    let waiting = wait_state(&domain, &admin, object, dp.id, DistState::Waiting, None).await;
    // The DP's first poll says why it waits.
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        let now = pair(&domain, &admin, object, dp.id).await.expect("pair");
        if now
            .detail
            .unwrap_or_default()
            .contains("Waiting for prestaged content")
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{waiting:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let job = domain
        .for_actor(&admin)
        .prestaged()
        .create(vec![object])
        .await
        .expect("prestage");
    let job = wait_until_final(&domain, job, SETTLE).await;
    let file = job.result.expect("result")["file"]
        .as_str()
        .expect("file")
        .to_owned();
    let path = domain
        .for_actor(&admin)
        .prestaged()
        .open(&file)
        .await
        .expect("path");

    // A truncated copy is refused, naming why.
    let bytes = std::fs::read(&path).expect("read");
    let cut = site.db.data_dir.join("cut.wdprestage");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let dp_dir = dp.dir.clone();
    let import = |file: &std::path::Path| {
        wimdeck(None)
            .args([
                "dp",
                "import-prestaged",
                file.to_str().expect("utf-8"),
                "--data-dir",
                dp_dir.to_str().expect("utf-8"),
            ])
            .env_remove("WIMDECK_CONFIG")
            .output()
            .expect("import-prestaged")
    };
    let refused = import(&cut);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("truncated"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Imports killed with SIGKILL at moments of their work, the DP stopped: a version is never
    // listed before all its chunks are there, and the DP's start sweeps what the kills left.
    dp.kill();
    let store = dp.dir.join("prestaged");
    let mut left = 0;
    for delay_ms in [1u64, 3, 6, 10, 20, 40, 80] {
        let mut child = wimdeck(None)
            .args([
                "dp",
                "import-prestaged",
                path.to_str().expect("utf-8"),
                "--data-dir",
                dp.dir.to_str().expect("utf-8"),
            ])
            .env_remove("WIMDECK_CONFIG")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("import-prestaged");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        assert_listed_versions_whole(&store);
        left += temporary_files(&store);
    }
    println!("killed imports left {left} temporary files");
    dp.serve();
    let deadline = std::time::Instant::now() + SETTLE;
    while temporary_files(&store) > 0 {
        assert!(std::time::Instant::now() < deadline, "never swept");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }

    let imported = import(&path);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert!(
        String::from_utf8_lossy(&imported.stdout).contains("\"Offline\" version 1"),
        "{}",
        String::from_utf8_lossy(&imported.stdout)
    );
    let done = wait_state(&domain, &admin, object, dp.id, DistState::Success, Some(1)).await;
    assert_eq!(done.bytes_needed, Some(0), "nothing fetched: {done:?}");
    let content_id = done.content_id;
    let installed = dp.current_file(content_id, "install.wim").expect("file");
    assert_eq!(sha256(&installed), expected);
    dp.kill();
    domain.close().await.expect("close");
}

/// Temporary files under `dir`.
fn temporary_files(dir: &std::path::Path) -> usize {
    super::walk(dir)
        .iter()
        .filter(|(p, _)| p.to_string_lossy().contains(".wimdeck-tmp-"))
        .count()
}

/// Every version the prestaged store lists has all its chunks.
fn assert_listed_versions_whole(store: &std::path::Path) {
    let Ok(manifests) = std::fs::read_dir(store.join("manifests")) else {
        return;
    };
    for entry in manifests.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(".wimdeck-tmp-") {
            continue;
        }
        let manifest =
            domain::content::Manifest::parse(&std::fs::read(entry.path()).expect("read"))
                .expect("a listed manifest is whole");
        for chunk in manifest.distinct_chunks() {
            let path = store
                .join("chunks")
                .join(&chunk.sha256[..2])
                .join(&chunk.sha256);
            assert!(
                path.exists(),
                "{name} is listed without chunk {}",
                chunk.sha256
            );
        }
    }
}
