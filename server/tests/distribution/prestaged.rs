//! Prestaged content with real processes: a DP enabled for it (`wimdeck dp serve`) waits for
//! the file; `wimdeck dp import-prestaged` beside it brings the content, and the DP installs it
//! without fetching a byte.

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
    let import = |file: &std::path::Path| {
        wimdeck(None)
            .args([
                "dp",
                "import-prestaged",
                file.to_str().expect("utf-8"),
                "--data-dir",
                dp.dir.to_str().expect("utf-8"),
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
