//! Server-rendered pages: what users wrote reaches the HTML escaped, titles included.

use std::time::Duration;

use axum::http::StatusCode;
use domain::{
    Domain, Role,
    authz::ObjectType,
    catalog::{ImageKind, kinds::ImportRequest},
    content::ContentObject,
    distribution::actions::Targets,
    drivers::{catalog::DriverFilter, import::DriverImportRequest},
    fixtures::{self, Arch, drivers::DriverPackage},
    jobs::{JobState, Runner},
    testing::{BACKENDS, TestDb, fast_runner_options, wait_until_final},
};

use crate::{PASSWORD, body_text, get, post_form, send, sign_in};

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
        let site = Site::named(backend, HOSTILE_IMAGE, Some(HOSTILE_DRIVER)).await;
        let app = server::router(site.domain.clone());
        let cookie = sign_in(&app, "admin", PASSWORD).await;
        let image_page = format!("/boot-images/{}", site.boot_image);
        let (title, html) = title_of(&app, &image_page, &cookie).await;
        assert_inert(&image_page, &title, &html, HOSTILE_IMAGE);
        let driver_page = format!("/drivers/{}", site.driver);
        let (title, html) = title_of(&app, &driver_page, &cookie).await;
        assert_inert(&driver_page, &title, &html, HOSTILE_DRIVER);
        // A DP and a DP group named by an attacker.
        let dp = site
            .domain
            .for_actor(&site.admin)
            .distribution_points()
            .create(domain::distribution::points::NewDp {
                name: HOSTILE_IMAGE.into(),
                settings: Default::default(),
            })
            .await
            .expect("dp");
        site.domain
            .for_actor(&site.admin)
            .dp_groups()
            .create(HOSTILE_DRIVER, HOSTILE_IMAGE)
            .await
            .expect("group");
        let dp_page = format!("/distribution-points/{dp}");
        let (title, html) = title_of(&app, &dp_page, &cookie).await;
        assert_inert(&dp_page, &title, &html, HOSTILE_IMAGE);
        // Lists show the names too (in the body, which Leptos escapes).
        for list in [
            "/boot-images",
            "/drivers",
            "/distribution-points",
            "/distribution",
        ] {
            let html = body_text(send(&app, get(list, Some(&cookie))).await).await;
            assert!(!html.contains("<script>alert"), "{list}");
            assert!(!html.contains("<meta http-equiv"), "{list}");
        }
    }
}

/// A site with one boot image, one OS image with two editions and one network driver,
/// imported by a Full Administrator named `admin`.
struct Site {
    domain: Domain,
    admin: domain::Actor,
    boot_image: i64,
    os_image: i64,
    driver: i64,
    _dir: tempfile::TempDir,
    _db: TestDb,
}

impl Site {
    async fn new(backend: domain::testing::Backend) -> Self {
        Self::named(backend, "Sample boot image", None).await
    }

    /// The site, its boot image named `boot_name` and its driver described as
    /// `driver_description` (what an attacker would choose).
    async fn named(
        backend: domain::testing::Backend,
        boot_name: &str,
        driver_description: Option<&str>,
    ) -> Self {
        let db = TestDb::create(backend).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("sources");
        std::fs::create_dir_all(&root).expect("root");
        let samples = fixtures::sample_library(&dir.path().join("samples")).expect("samples");
        std::fs::copy(&samples.boot_amd64, root.join("boot.wim")).expect("copy");
        std::fs::copy(&samples.install, root.join("install.wim")).expect("copy");
        let mut package = DriverPackage::network("e1x", &[Arch::Amd64]);
        if let Some(description) = driver_description {
            package.description = description.into();
        }
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
        let mut imported = Vec::new();
        for (kind, file, name) in [
            (ImageKind::Boot, "boot.wim", boot_name),
            (ImageKind::Os, "install.wim", "Sample OS image"),
        ] {
            let job = domain
                .for_actor(&admin)
                .catalog()
                .import(ImportRequest {
                    kind,
                    source: root.join(file).display().to_string(),
                    index: None,
                    name: Some(name.to_owned()),
                    version: String::new(),
                    comment: String::new(),
                    architecture: None,
                    language: None,
                })
                .await
                .expect("import");
            imported.push(result_id(&domain, job, "image_id").await);
        }
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
        runner.shutdown().await;
        let driver = domain
            .for_actor(&admin)
            .drivers()
            .list(&DriverFilter::default())
            .await
            .expect("drivers")
            .drivers
            .pop()
            .expect("a driver");
        if let Some(description) = driver_description {
            assert_eq!(driver.name, description);
        }
        Self {
            domain,
            admin,
            boot_image: imported[0],
            os_image: imported[1],
            driver: driver.id,
            _dir: dir,
            _db: db,
        }
    }
}

/// Waits for the job and returns the id its result names under `key`.
async fn result_id(domain: &Domain, job: i64, key: &str) -> i64 {
    let job = wait_until_final(domain, job, Duration::from_secs(60)).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    job.result
        .as_ref()
        .and_then(|r| r.get(key))
        .and_then(serde_json::Value::as_i64)
        .expect("an id in the result")
}

/// The console's own links in a page (`href="/…"`), without fragments and the bundle's files.
fn links(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| {
            href.starts_with('/') && !href.starts_with("/pkg/") && !href.starts_with("/api/")
        })
        .map(|href| {
            href.split('#')
                .next()
                .unwrap_or_default()
                .replace("&amp;", "&")
        })
        .collect()
}

/// Every page a user of each built-in role reaches by following the console's links answers,
/// shows no refusal, and leaves no "denied" entry in the audit log: pages call only what their
/// viewer may use, so the log's refusals are real ones.
#[tokio::test]
async fn every_page_a_role_reaches_by_its_links_works_without_a_refusal() {
    for backend in BACKENDS {
        let site = Site::new(backend).await;
        let domain = &site.domain;
        let app = server::router(domain.clone());
        for (n, role) in Role::ALL.into_iter().enumerate() {
            let name = format!("user{n}");
            domain
                .accounts()
                .create_user(&name, PASSWORD, &[role])
                .await
                .expect("user");
            let cookie = sign_in(&app, &name, PASSWORD).await;
            let mut queue = vec!["/".to_owned()];
            let mut seen = std::collections::BTreeSet::new();
            while let Some(path) = queue.pop() {
                if path == "/sign-in" || !seen.insert(path.clone()) || seen.len() > 80 {
                    continue;
                }
                eprintln!("{backend:?} {role:?}: {path}");
                let response = send(&app, get(&path, Some(&cookie))).await;
                assert_eq!(
                    response.status(),
                    StatusCode::OK,
                    "{role:?} following a link to {path}"
                );
                let html = body_text(response).await;
                assert!(
                    !html.contains("do not have permission"),
                    "{role:?}: {path} shows a refusal"
                );
                queue.extend(links(&html));
            }
            for page in [
                format!("/boot-images/{}", site.boot_image),
                format!("/os-images/{}", site.os_image),
                format!("/drivers/{}", site.driver),
            ] {
                assert!(
                    seen.contains(&page),
                    "{role:?} never reached {page}: {seen:?}"
                );
            }
            let denied = domain
                .for_actor(&site.admin)
                .audit()
                .search(
                    &domain::audit::Filter {
                        user: Some(name.clone()),
                        outcome: Some(domain::audit::Outcome::Denied),
                        ..Default::default()
                    },
                    None,
                    100,
                )
                .await
                .expect("audit");
            let what: Vec<(String, String)> = denied
                .into_iter()
                .map(|r| (r.object_name, r.detail))
                .collect();
            assert!(what.is_empty(), "{role:?} was refused: {what:?}");
        }
    }
}

/// The Actions panel offers each action to exactly the users who may run it: a Content
/// Operator (Validate) sees Verify alone, a Read-only Analyst no panel at all.
#[tokio::test]
async fn image_actions_are_offered_per_right() {
    let site = Site::new(domain::testing::Backend::Sqlite).await;
    let domain = &site.domain;
    let app = server::router(domain.clone());
    let page = format!("/os-images/{}", site.os_image);
    // (role, verify, optimize and split, extract, delete, edit)
    let cases = [
        (
            Role::OperatingSystemDeploymentManager,
            true,
            true,
            true,
            true,
            true,
        ),
        (Role::ContentOperator, true, false, false, false, false),
        (Role::ReadOnlyAnalyst, false, false, false, false, false),
    ];
    for (n, (role, verify, rewrite, extract, delete, edit)) in cases.into_iter().enumerate() {
        let name = format!("actions{n}");
        domain
            .accounts()
            .create_user(&name, PASSWORD, &[role])
            .await
            .expect("user");
        let cookie = sign_in(&app, &name, PASSWORD).await;
        let html = body_text(send(&app, get(&page, Some(&cookie))).await).await;
        let offers = |needle: &str| html.contains(needle);
        assert_eq!(offers("value=\"verify\""), verify, "{role:?} Verify");
        assert_eq!(offers("value=\"optimize\""), rewrite, "{role:?} Optimize");
        assert_eq!(offers("value=\"split\""), rewrite, "{role:?} Split");
        assert_eq!(offers("value=\"extract\""), extract, "{role:?} Extract");
        assert_eq!(offers("Delete this OS image"), delete, "{role:?} Delete");
        assert_eq!(
            offers("name=\"row_version\""),
            edit || delete,
            "{role:?} edit form"
        );
        assert_eq!(
            offers("aria-label=\"Actions\""),
            verify || rewrite || delete,
            "{role:?} panel"
        );
    }
}

/// The architecture picker of an OS image offers what the image may be, unknown included, and
/// shows what it is: saving an edit never turns an unknown or ARM image into x86.
#[tokio::test]
async fn the_architecture_picker_shows_every_architecture_and_unknown() {
    let site = Site::new(domain::testing::Backend::Sqlite).await;
    let (domain, admin, id) = (&site.domain, &site.admin, site.os_image);
    let app = server::router(domain.clone());
    let cookie = sign_in(&app, "admin", PASSWORD).await;
    for architecture in ["arm", ""] {
        let image = domain.catalog().get(id).await.expect("image");
        domain
            .for_actor(admin)
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

/// The rows of the first table with `aria-label="{label}"`: each row's HTML.
fn table_rows(html: &str, label: &str) -> Vec<String> {
    let start = html
        .find(&format!("aria-label=\"{label}\""))
        .unwrap_or_else(|| panic!("no table {label}"));
    let table = &html[start..start + html[start..].find("</table>").expect("table ends")];
    table
        .split("<tr")
        .skip(2) // what precedes the first row, and the header row
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn distribution_lists_are_filtered_and_paged() {
    use domain::distribution::points::{DpSettings, NewDp};
    for backend in BACKENDS {
        let site = Site::new(backend).await;
        let app = server::router(site.domain.clone());
        let cookie = sign_in(&app, "admin", PASSWORD).await;
        let points = site.domain.for_actor(&site.admin).distribution_points();
        for n in 1..=120 {
            let description = if n % 2 == 0 { "Lab wing" } else { "" };
            points
                .create(NewDp {
                    name: format!("Branch {n:03}"),
                    settings: DpSettings {
                        description: description.into(),
                        ..Default::default()
                    },
                })
                .await
                .expect("dp");
        }
        let answer = |path: &'static str| {
            let (app, cookie) = (app.clone(), cookie.clone());
            async move {
                let response = send(&app, get(path, Some(&cookie))).await;
                (response.status(), body_text(response).await)
            }
        };
        let page = |path: &'static str| async move {
            let (status, html) = answer(path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            html
        };

        // The second page of a filter; "This server" does not match it.
        let html = page("/distribution-points?q=branch&page=2").await;
        assert!(html.contains("51–100 of 120 (121 in all)"), "{html}");
        let rows = table_rows(&html, "Distribution points");
        assert_eq!(rows.len(), 50);
        assert!(rows[0].contains("Branch 051") && rows[49].contains("Branch 100"));
        assert!(
            html.contains("href=\"/distribution-points?q=branch\""),
            "previous"
        );
        assert!(
            html.contains("href=\"/distribution-points?q=branch&amp;page=3\""),
            "next"
        );

        // Every word must be found, in the name or the description; then by status.
        let html = page("/distribution-points?q=BRANCH+lab").await;
        assert!(html.contains("1–50 of 60 (121 in all)"), "{html}");
        let html = page("/distribution-points?health=not-enrolled&q=branch&page=3").await;
        assert!(html.contains("101–120 of 120 (121 in all)"), "{html}");
        assert_eq!(table_rows(&html, "Distribution points").len(), 20);
        // A page past the end shows the last one.
        let html = page("/distribution-points?page=99").await;
        assert!(html.contains("101–121 of 121"), "{html}");

        // A filter the page does not offer gets a clear error, not a list.
        let (status, html) = answer("/distribution-points?health=sideways").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("is not a status to filter by"), "{html}");
        let (status, html) = answer("/distribution?state=%3Cb%3Edone").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(html.contains("is not a state to filter by"), "{html}");
        assert!(!html.contains("<b>done"));
        // Typed words come back escaped, in the field and in the page links.
        let html = page("/distribution-points?q=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("None matches."), "{html}");
        let html = page("/distribution?state=failed&q=branch").await;
        assert!(html.contains("Nothing distributed yet."), "{html}");

        // The OS image sent to all 120: its panel and the status page list 50 at a time.
        let dps: Vec<i64> = points
            .list()
            .await
            .expect("dps")
            .into_iter()
            .filter(|dp| dp.name.starts_with("Branch"))
            .map(|dp| dp.id)
            .collect();
        let runner = Runner::start(&site.domain, fast_runner_options());
        let object = ContentObject::new(ObjectType::OsImage, site.os_image);
        let job = site
            .domain
            .for_actor(&site.admin)
            .distribution()
            .distribute(
                object,
                Targets {
                    dps,
                    groups: vec![],
                },
            )
            .await
            .expect("distribute");
        let job = wait_until_final(&site.domain, job, Duration::from_secs(60)).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        runner.shutdown().await;
        let panel = |form: String| {
            let (app, cookie) = (app.clone(), cookie.clone());
            async move {
                let response = send(
                    &app,
                    post_form("/api/content_distribution", &form, Some(&cookie)),
                )
                .await;
                let status = response.status();
                let body = body_text(response).await;
                assert_eq!(status, StatusCode::OK, "{form}: {body}");
                serde_json::from_str::<serde_json::Value>(&body).expect("json")
            }
        };
        let os = site.os_image;
        let view = panel(format!("object_type=os-image&object_id={os}&page=3")).await;
        assert_eq!(view["page"]["offset"], 100);
        assert_eq!(view["page"]["matched"], 120);
        assert_eq!(view["pairs"].as_array().expect("pairs").len(), 20);
        assert_eq!(view["summary"]["total"], 120);
        assert_eq!(view["pairs"][0]["dp_name"], "Branch 101");
        let view = panel(format!(
            "object_type=os-image&object_id={os}&q=branch+11&state=waiting"
        ))
        .await;
        // Branch 011 and 110 to 119.
        assert_eq!(view["page"]["matched"], 11);
        assert_eq!(view["summary"]["total"], 120);
        let view = panel(format!("object_type=os-image&object_id={os}&state=success")).await;
        assert_eq!(view["page"]["matched"], 0);
        let html = page("/distribution?state=waiting&page=2").await;
        assert!(html.contains("51–100 of 120"), "{html}");
        assert_eq!(
            table_rows(&html, "Content on distribution points").len(),
            50
        );
    }
}
