//! Server-rendered pages: what users wrote reaches the HTML escaped, titles included.

use std::time::Duration;

use axum::http::StatusCode;
use domain::{
    Domain, Role,
    catalog::{ImageKind, kinds::ImportRequest},
    drivers::{catalog::DriverFilter, import::DriverImportRequest},
    fixtures::{self, Arch, drivers::DriverPackage},
    jobs::{JobState, Runner},
    testing::{BACKENDS, TestDb, fast_runner_options, wait_until_final},
};

use crate::{PASSWORD, body_text, get, send, sign_in};

/// Names an attacker would give: each closes the title and opens something the browser obeys.
const HOSTILE_IMAGE: &str =
    "x</title><meta http-equiv=\"refresh\" content=\"0;url=http://evil.example/\"><title>";
/// INF strings are quoted, so no double quotes here.
const HOSTILE_DRIVER: &str = "NIC</title><script>alert(1)</script><meta http-equiv=refresh content=0;url=http://evil.example/>";

/// The text of the served page's `<title>`, and the page.
async fn title_of(app: &axum::Router, path: &str, cookie: &str) -> (String, String) {
    let response = send(app, get(path, Some(cookie))).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let html = body_text(response).await;
    let start = html.find("<title>").map(|i| i + "<title>".len());
    let title = start
        .and_then(|s| {
            html[s..]
                .find("</title>")
                .map(|e| html[s..s + e].to_owned())
        })
        .unwrap_or_else(|| panic!("{path}: no title in {html}"));
    (title, html)
}

fn assert_inert(path: &str, title: &str, html: &str, hostile: &str) {
    assert!(!title.contains('<'), "{path}: markup in the title: {title}");
    assert!(title.contains("&lt;/title&gt;"), "{path}: {title}");
    assert!(
        !html.contains(hostile),
        "{path}: the name reached the page unescaped"
    );
    assert!(!html.contains("<script>alert"), "{path}");
    assert!(!html.contains("<meta http-equiv"), "{path}");
}

#[tokio::test]
async fn user_controlled_names_reach_titles_escaped() {
    for backend in BACKENDS {
        let db = TestDb::create(backend).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("sources");
        std::fs::create_dir_all(&root).expect("root");
        let samples = fixtures::sample_library(&dir.path().join("samples")).expect("samples");
        std::fs::copy(&samples.boot_amd64, root.join("boot.wim")).expect("copy");
        let mut package = DriverPackage::network("e1x", &[Arch::Amd64]);
        package.description = HOSTILE_DRIVER.into();
        package.write(&root.join("net")).expect("driver");

        let mut config = db.config();
        config.images.source_roots = vec![root.clone()];
        let domain = Domain::open(&config).await.expect("open");
        let admin_id = domain
            .accounts()
            .create_user("admin", PASSWORD, &[Role::FullAdministrator])
            .await
            .expect("admin");
        let admin = domain.accounts().actor(admin_id).await.expect("actor");
        let runner = Runner::start(&domain, fast_runner_options());

        let job = domain
            .for_actor(&admin)
            .catalog()
            .import(ImportRequest {
                kind: ImageKind::Boot,
                source: root.join("boot.wim").display().to_string(),
                index: None,
                name: Some(HOSTILE_IMAGE.into()),
                version: String::new(),
                comment: String::new(),
                architecture: None,
                language: None,
            })
            .await
            .expect("import");
        let job = wait_until_final(&domain, job, Duration::from_secs(60)).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let image_id = job
            .result
            .as_ref()
            .and_then(|r| r.get("image_id"))
            .and_then(serde_json::Value::as_i64)
            .expect("image id");
        let job = domain
            .for_actor(&admin)
            .drivers()
            .import(DriverImportRequest {
                source: root.join("net").display().to_string(),
                name: None,
                categories: vec![],
            })
            .await
            .expect("driver import");
        let job = wait_until_final(&domain, job, Duration::from_secs(60)).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let driver = domain
            .for_actor(&admin)
            .drivers()
            .list(&DriverFilter::default())
            .await
            .expect("drivers")
            .drivers
            .pop()
            .expect("a driver");
        assert_eq!(driver.name, HOSTILE_DRIVER);

        let app = server::router(domain.clone());
        let cookie = sign_in(&app, "admin", PASSWORD).await;
        let image_page = format!("/boot-images/{image_id}");
        let (title, html) = title_of(&app, &image_page, &cookie).await;
        assert_inert(&image_page, &title, &html, HOSTILE_IMAGE);
        let driver_page = format!("/drivers/{}", driver.id);
        let (title, html) = title_of(&app, &driver_page, &cookie).await;
        assert_inert(&driver_page, &title, &html, HOSTILE_DRIVER);
        // Lists show the names too (in the body, which Leptos escapes).
        for list in ["/boot-images", "/drivers"] {
            let html = body_text(send(&app, get(list, Some(&cookie))).await).await;
            assert!(!html.contains("<script>alert"), "{list}");
            assert!(!html.contains("<meta http-equiv"), "{list}");
        }
        runner.shutdown().await;
    }
}

/// The architecture picker of an OS image offers what the image may be, unknown included, and
/// shows what it is: saving an edit never turns an unknown or ARM image into x86.
#[tokio::test]
async fn the_architecture_picker_shows_every_architecture_and_unknown() {
    let db = TestDb::create(domain::testing::Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("sources");
    std::fs::create_dir_all(&root).expect("root");
    let samples = fixtures::sample_library(&dir.path().join("samples")).expect("samples");
    std::fs::copy(&samples.install, root.join("install.wim")).expect("copy");
    let mut config = db.config();
    config.images.source_roots = vec![root.clone()];
    let domain = Domain::open(&config).await.expect("open");
    let admin_id = domain
        .accounts()
        .create_user("admin", PASSWORD, &[Role::FullAdministrator])
        .await
        .expect("admin");
    let admin = domain.accounts().actor(admin_id).await.expect("actor");
    let runner = Runner::start(&domain, fast_runner_options());
    let job = domain
        .for_actor(&admin)
        .catalog()
        .import(ImportRequest {
            kind: ImageKind::Os,
            source: root.join("install.wim").display().to_string(),
            index: None,
            name: Some("Windows 11".into()),
            version: String::new(),
            comment: String::new(),
            architecture: None,
            language: None,
        })
        .await
        .expect("import");
    let job = wait_until_final(&domain, job, Duration::from_secs(60)).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    runner.shutdown().await;
    let id = job.result.expect("result")["image_id"]
        .as_i64()
        .expect("image id");
    let app = server::router(domain.clone());
    let cookie = sign_in(&app, "admin", PASSWORD).await;
    for architecture in ["arm", ""] {
        let image = domain.catalog().get(id).await.expect("image");
        domain
            .for_actor(&admin)
            .catalog()
            .edit(
                ImageKind::Os,
                id,
                domain::catalog::ImageEdit {
                    name: image.name.clone(),
                    version: image.version.clone(),
                    comment: image.comment.clone(),
                    architecture: Some(architecture.into()),
                    language: None,
                    expected_row_version: image.row_version,
                },
            )
            .await
            .expect("edit");
        let html =
            body_text(send(&app, get(&format!("/os-images/{id}"), Some(&cookie))).await).await;
        let picker = &html[html.find("name=\"architecture\"").expect("the picker")..];
        let picker = &picker[..picker.find("</select>").expect("its end")];
        for value in ["", "x86", "amd64", "arm64", "arm", "ia64"] {
            assert!(
                picker.contains(&format!("value=\"{value}\"")),
                "{value:?} missing from {picker}"
            );
        }
        let selected: Vec<&str> = picker
            .split("<option")
            .filter(|o| o.contains("selected"))
            .collect();
        assert_eq!(selected.len(), 1, "{picker}");
        assert!(
            selected[0].contains(&format!("value=\"{architecture}\"")),
            "{architecture:?}: {picker}"
        );
    }
}
