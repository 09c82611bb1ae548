//! Every registered server function declares what it needs (`app::api::permissions`), and the
//! declaration holds: a user lacking a declared permission is refused with 403; a user scoped
//! to Lab is refused every function that names a Production object; and a user holding
//! exactly the declared permissions gets a success, or the function's own validation error
//! for the deliberately minimal input, and nothing else (no 404, no conflict, no 500).

use std::collections::{BTreeSet, HashMap};

use axum::{Router, http::StatusCode};
use domain::{
    Actor, Domain, Role,
    authz::{ObjectType, Operation, Permissions, ScopeSet},
    catalog::{ImageKind, kinds::ImportRequest},
    drivers::import::DriverImportRequest,
    fixtures::{self, Arch, drivers::DriverPackage},
    jobs::{JobState, NewJob, NewSchedule, Runner, ScheduleSpec},
    testing::{Backend, TestDb, fast_runner_options, wait_until_final},
};

use crate::{PASSWORD, body_text, get, post_form, send, sign_in};
use app::api::permissions::{DECLARED, Needs, declared};

/// Placeholders that name scoped objects: the scoped pass expects a refusal for each function
/// whose sample names one of them.
const SCOPED_OBJECTS: [&str; 12] = [
    "{prestaged}",
    "{boot}",
    "{boot2}",
    "{boot3}",
    "{boot4}",
    "{boot5}",
    "{boot6}",
    "{spare_boot}",
    "{os}",
    "{driver}",
    "{spare_driver}",
    "{dp}",
];

/// Users with custom roles of given permissions (on given scopes), made on demand and signed
/// in, each with an upload and an API token of their own.
struct Users<'a> {
    app: &'a Router,
    domain: &'a Domain,
    admin: &'a Actor,
    full_role: i64,
    /// Cookie and the caller's own placeholders, by (permissions, scopes).
    made: HashMap<String, (String, HashMap<&'static str, String>)>,
    /// Users made so far (names stay unique after `made` is cleared).
    count: usize,
}

impl Users<'_> {
    async fn with(
        &mut self,
        permissions: Permissions,
        scopes: ScopeSet,
    ) -> (String, HashMap<&'static str, String>) {
        let key = format!(
            "{}{scopes:?}",
            serde_json::to_string(&permissions).expect("json")
        );
        if let Some(made) = self.made.get(&key) {
            return made.clone();
        }
        self.count += 1;
        let n = self.count;
        let security = self.domain.for_actor(self.admin).security();
        let role = security
            .copy_role(self.full_role, &format!("role {n}"), "")
            .await
            .expect("copy role");
        security
            .edit_role(role, &format!("role {n}"), "", permissions, 1)
            .await
            .expect("edit role");
        let name = format!("user{n}");
        let id = security
            .create_user(&name, PASSWORD, role, scopes)
            .await
            .expect("user");
        let actor = self.domain.accounts().actor(id).await.expect("actor");
        let mut own = HashMap::new();
        let uploads = self.domain.for_actor(&actor).uploads();
        for (key, file) in [("{my_upload}", "a.wim"), ("{my_spare_upload}", "b.wim")] {
            if let Ok(upload) = uploads.begin(file, 16).await {
                own.insert(key, upload.id);
            }
        }
        let token = self
            .domain
            .for_actor(&actor)
            .api_tokens()
            .create("coverage", 1, None)
            .await
            .expect("token");
        own.insert("{my_token}", token.info.id.to_string());
        let cookie = sign_in(self.app, &name, PASSWORD).await;
        self.made.insert(key, (cookie.clone(), own.clone()));
        (cookie, own)
    }
}

fn without(pairs: &[(ObjectType, Operation)]) -> Permissions {
    let mut p = Permissions::everything();
    for (object, op) in pairs {
        p.revoke(*object, &[*op]);
    }
    p
}

fn exactly(pairs: &[(ObjectType, Operation)]) -> Permissions {
    let mut p = Permissions::NONE;
    for (object, op) in pairs {
        p.grant(*object, &[*op]).expect("applies");
    }
    p
}

fn fill(
    sample: &str,
    values: &HashMap<&'static str, String>,
    own: &HashMap<&'static str, String>,
) -> String {
    let mut text = sample.to_owned();
    for (key, value) in values.iter().chain(own) {
        text = text.replace(key, value);
    }
    // A caller who may not upload has no upload of their own: any id will be refused.
    for key in ["{my_upload}", "{my_spare_upload}"] {
        text = text.replace(key, "none");
    }
    assert!(
        !text.contains('{'),
        "an unknown placeholder in {sample}: {text}"
    );
    text
}

/// The objects the samples name, made through the domain as an administrator would: boot
/// images and driver packages in Production, jobs, schedules, roles without rights, a user
/// to change, scopes.
async fn objects(
    domain: &Domain,
    admin: &Actor,
    root: &std::path::Path,
) -> HashMap<&'static str, String> {
    let mut v: HashMap<&'static str, String> = HashMap::new();
    let runner = Runner::start(domain, fast_runner_options());
    let mut first_job = None;
    // Each object a sample queues a job on is its own: a queued job holds its image.
    for (key, name, kind, file) in [
        ("{boot}", "Boot A", ImageKind::Boot, "boot.wim"),
        ("{boot2}", "Boot B", ImageKind::Boot, "boot.wim"),
        ("{boot3}", "Boot C", ImageKind::Boot, "boot.wim"),
        ("{boot4}", "Boot D", ImageKind::Boot, "boot.wim"),
        ("{boot5}", "Boot E", ImageKind::Boot, "boot.wim"),
        ("{boot6}", "Boot F", ImageKind::Boot, "boot.wim"),
        ("{spare_boot}", "Spare", ImageKind::Boot, "boot.wim"),
        ("{os}", "Windows 11", ImageKind::Os, "install.wim"),
    ] {
        let job = domain
            .for_actor(admin)
            .catalog()
            .import(ImportRequest {
                kind,
                source: root.join(file).display().to_string(),
                index: None,
                name: Some(name.into()),
                version: String::new(),
                comment: String::new(),
                architecture: None,
                language: None,
            })
            .await
            .expect("import");
        first_job.get_or_insert(job);
        let job = wait_until_final(domain, job, std::time::Duration::from_secs(60)).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        v.insert(key, job.result.expect("result")["image_id"].to_string());
    }
    let mut packages = Vec::new();
    for (key, folder) in [("{driver}", "nic1"), ("{spare_driver}", "nic2")] {
        let job = domain
            .for_actor(admin)
            .drivers()
            .import(DriverImportRequest {
                source: root.join(folder).display().to_string(),
                name: None,
                categories: vec![],
            })
            .await
            .expect("drivers");
        let job = wait_until_final(domain, job, std::time::Duration::from_secs(60)).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
        let result = job.result.expect("result");
        packages.push(result["package_id"].as_i64().expect("package"));
        v.insert(key, result["drivers"][0]["driver_id"].to_string());
    }
    // Distribution points and groups; {os} is sent to {dp} (Redistribute acts on that).
    let points = domain.for_actor(admin).distribution_points();
    for (key, name) in [
        ("{dp}", "Branch A"),
        ("{spare_dp}", "Branch B"),
        ("{spare_dp2}", "Branch C"),
    ] {
        let id = points
            .create(domain::distribution::points::NewDp {
                name: name.into(),
                settings: Default::default(),
            })
            .await
            .expect("dp");
        v.insert(key, id.to_string());
    }
    let groups = domain.for_actor(admin).dp_groups();
    for (key, name) in [("{group}", "Group A"), ("{spare_group}", "Group B")] {
        let id = groups.create(name, "").await.expect("group");
        v.insert(key, id.to_string());
    }
    let job = domain
        .for_actor(admin)
        .distribution()
        .distribute(
            domain::content::ContentObject::new(
                ObjectType::OsImage,
                v["{os}"].parse().expect("id"),
            ),
            domain::distribution::actions::Targets {
                dps: vec![v["{dp}"].parse().expect("id")],
                groups: vec![],
            },
        )
        .await
        .expect("distribute");
    let job = wait_until_final(domain, job, std::time::Duration::from_secs(60)).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    // A prestaged content file of {os}.
    let job = domain
        .for_actor(admin)
        .prestaged()
        .create(vec![domain::content::ContentObject::new(
            ObjectType::OsImage,
            v["{os}"].parse().expect("id"),
        )])
        .await
        .expect("prestage");
    let job = wait_until_final(domain, job, std::time::Duration::from_secs(60)).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    v.insert(
        "{prestaged}",
        job.result.expect("result")["file"]
            .as_str()
            .expect("file")
            .to_owned(),
    );
    runner.shutdown().await;
    // Job 1 is the first import (the websocket check watches it).
    assert_eq!(first_job, Some(1));

    let security = domain.for_actor(admin).security();
    let lab = security.create_scope("Lab", "").await.expect("lab");
    let production = security.create_scope("Production", "").await.expect("prod");
    v.insert("{lab}", lab.to_string());
    v.insert("{production}", production.to_string());
    for key in [
        "{boot}",
        "{boot2}",
        "{boot3}",
        "{boot4}",
        "{boot5}",
        "{boot6}",
        "{spare_boot}",
    ] {
        security
            .set_object_scopes(
                ObjectType::BootImage,
                v[key].parse().expect("id"),
                &BTreeSet::from([production]),
            )
            .await
            .expect("to production");
    }
    security
        .set_object_scopes(
            ObjectType::OsImage,
            v["{os}"].parse().expect("id"),
            &BTreeSet::from([production]),
        )
        .await
        .expect("to production");
    security
        .set_object_scopes(
            ObjectType::DistributionPoint,
            v["{dp}"].parse().expect("id"),
            &BTreeSet::from([production]),
        )
        .await
        .expect("to production");
    for package in packages {
        security
            .set_object_scopes(
                ObjectType::DriverPackage,
                package,
                &BTreeSet::from([production]),
            )
            .await
            .expect("to production");
    }
    v.insert(
        "{scope}",
        security
            .create_scope("Renamed", "")
            .await
            .expect("scope")
            .to_string(),
    );
    v.insert(
        "{spare_scope}",
        security
            .create_scope("Unused", "")
            .await
            .expect("scope")
            .to_string(),
    );

    // Storage checks: housekeeping every job reader may see. No runner: they stay queued.
    let jobs = domain.for_actor(admin).jobs();
    let check = || NewJob::new("storage-check", serde_json::json!({ "size_mib": 1 }));
    v.insert(
        "{queued_job}",
        jobs.start(check()).await.expect("queued").to_string(),
    );
    for key in ["{job}", "{cancelled_job}"] {
        let cancelled = jobs.start(check()).await.expect("queued");
        jobs.cancel(cancelled).await.expect("cancel");
        v.insert(key, cancelled.to_string());
    }
    for key in ["{schedule}", "{spare_schedule}"] {
        let id = jobs
            .create_schedule(NewSchedule {
                name: key.trim_matches(['{', '}']).into(),
                kind: "storage-check".into(),
                params: serde_json::json!({ "size_mib": 1 }),
                spec: ScheduleSpec::Interval(86_400),
            })
            .await
            .expect("schedule");
        v.insert(key, id.to_string());
    }

    let roles = security.roles().await.expect("roles");
    let full = roles
        .iter()
        .find(|r| r.slug.as_deref() == Some(Role::FullAdministrator.slug()))
        .expect("full")
        .id;
    for (key, name) in [
        ("{empty_role}", "Nothing"),
        ("{empty_role2}", "Nothing 2"),
        ("{empty_role3}", "Nothing 3"),
        ("{spare_role}", "Unused"),
    ] {
        let id = security.copy_role(full, name, "").await.expect("copy");
        security
            .edit_role(id, name, "", Permissions::NONE, 1)
            .await
            .expect("empty");
        v.insert(key, id.to_string());
    }
    let victim = security
        .create_user(
            "victim",
            PASSWORD,
            v["{empty_role}"].parse().expect("id"),
            ScopeSet::All,
        )
        .await
        .expect("victim");
    let spare = security
        .assign(
            victim,
            v["{empty_role3}"].parse().expect("id"),
            ScopeSet::All,
        )
        .await
        .expect("assign");
    v.insert("{victim}", victim.to_string());
    v.insert("{spare_assignment}", spare.to_string());
    v.insert("{password}", PASSWORD.replace(' ', "+"));
    v.insert("{long_category}", "x".repeat(65));
    v
}

#[tokio::test]
async fn every_server_function_declares_and_enforces_its_permissions() {
    let db = TestDb::create(Backend::Sqlite).await;
    let root = db.data_dir.join("sources");
    std::fs::create_dir_all(&root).expect("root");
    let library = fixtures::sample_library(&db.data_dir.join("samples")).expect("samples");
    std::fs::copy(&library.boot_amd64, root.join("boot.wim")).expect("boot");
    std::fs::copy(&library.install, root.join("install.wim")).expect("install");
    for stem in ["nic1", "nic2"] {
        DriverPackage::network(stem, &[Arch::Amd64])
            .write(&root.join(stem))
            .expect("driver");
    }
    let mut config = db.config();
    config.images.source_roots = vec![root.clone()];
    let domain = Domain::open(&config).await.expect("open");
    let admin_id = domain
        .accounts()
        .create_user("root", PASSWORD, &[Role::FullAdministrator])
        .await
        .expect("root");
    let admin = domain.accounts().actor(admin_id).await.expect("actor");
    let values = objects(&domain, &admin, &root).await;
    let app = server::router(domain.clone());
    let full_role = admin.grants.0[0].role_id;
    let mut users = Users {
        app: &app,
        domain: &domain,
        admin: &admin,
        full_role,
        made: HashMap::new(),
        count: 0,
    };

    let methods: HashMap<&str, axum::http::Method> = server_fn::axum::server_fn_paths().collect();
    let mut paths: Vec<&str> = methods.keys().copied().collect();
    paths.sort_unstable();
    let websocket =
        |path: &str| declared(path).is_some_and(|d| d.sample == app::api::permissions::WEBSOCKET);
    let request = |path: &str, sample: &str, cookie: &str| {
        if methods[path] == axum::http::Method::GET {
            get(&format!("{path}?{sample}"), Some(cookie))
        } else {
            post_form(path, sample, Some(cookie))
        }
    };
    let undeclared: Vec<&&str> = paths.iter().filter(|p| declared(p).is_none()).collect();
    assert!(
        undeclared.is_empty(),
        "no declared permission: {undeclared:?}"
    );
    let stale: Vec<&str> = DECLARED
        .iter()
        .map(|d| d.path)
        .filter(|p| !paths.contains(p))
        .collect();
    assert!(stale.is_empty(), "declared but not registered: {stale:?}");

    // The prestaged file download (a route, not a server function), before its file is
    // deleted below.
    let download = |name: &str, cookie: Option<&str>| {
        get(
            &format!("{}{name}", app::api::permissions::PRESTAGED_ROUTE),
            cookie,
        )
    };
    let file = values["{prestaged}"].clone();
    let (cookie, _) = users
        .with(
            exactly(&[(ObjectType::OsImage, Operation::Distribute)]),
            ScopeSet::All,
        )
        .await;
    let response = send(&app, download(&file, Some(&cookie))).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[axum::http::header::CONTENT_DISPOSITION]
            .to_str()
            .expect("ascii")
            .contains(&file)
    );
    let body = body_text(response).await;
    assert!(body.starts_with("WIMDECK-PRESTAGED"), "{:.40}", body);
    for hostile in ["..%2Fdomain.db", "prestaged-1.wdprestage%2F..%2Fx", "x"] {
        let response = send(&app, download(hostile, Some(&cookie))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{hostile}");
    }
    let response = send(&app, download(&file, None)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let (cookie, _) = users
        .with(
            without(&[(ObjectType::OsImage, Operation::Distribute)]),
            ScopeSet::All,
        )
        .await;
    let response = send(&app, download(&file, Some(&cookie))).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let lab = ScopeSet::Only(BTreeSet::from([values["{lab}"].parse().expect("id")]));
    let (cookie, _) = users.with(Permissions::everything(), lab).await;
    let response = send(&app, download(&file, Some(&cookie))).await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "a Production image from Lab"
    );

    // First every refusal (nothing changes), then every admission (some change things).
    let mut refused = 0;
    let mut scoped = 0;
    for path in &paths {
        let d = declared(path).expect("declared");
        let lacking: Vec<Vec<(ObjectType, Operation)>> = match d.needs {
            Needs::Public | Needs::SignedIn => Vec::new(),
            Needs::All(pairs) => pairs.iter().map(|p| vec![*p]).collect(),
            Needs::Any(pairs) => vec![pairs.to_vec()],
        };
        for missing in lacking {
            let (cookie, own) = users.with(without(&missing), ScopeSet::All).await;
            if websocket(path) {
                let answer = first_websocket_answer(&app, path, &cookie).await;
                assert!(
                    answer.contains("Forbidden"),
                    "{path} reached without {missing:?}: {answer}"
                );
            } else {
                let response =
                    send(&app, request(path, &fill(d.sample, &values, &own), &cookie)).await;
                let status = response.status();
                let body = body_text(response).await;
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{path} reached without {missing:?}: {body}"
                );
            }
            refused += 1;
        }
        // Everything, but only on Lab: a Production object is out of reach.
        if SCOPED_OBJECTS.iter().any(|o| d.sample.contains(o)) {
            let lab = ScopeSet::Only(BTreeSet::from([values["{lab}"].parse().expect("id")]));
            let (cookie, own) = users.with(Permissions::everything(), lab).await;
            let response = send(&app, request(path, &fill(d.sample, &values, &own), &cookie)).await;
            let status = response.status();
            let body = body_text(response).await;
            assert!(
                status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND,
                "{path} reached a Production object from Lab: {status} {body}"
            );
            scoped += 1;
        }
    }
    let mut admitted = 0;
    for path in &paths {
        let d = declared(path).expect("declared");
        let sufficient = match d.needs {
            Needs::Public => continue,
            Needs::SignedIn => Permissions::NONE,
            Needs::All(pairs) => exactly(pairs),
            Needs::Any(pairs) => exactly(&pairs[..1]),
        };
        let (cookie, own) = users.with(sufficient, ScopeSet::All).await;
        if d.path == <app::api::session::SignOut as server_fn::ServerFn>::PATH {
            // Signing out ends the session the other checks share.
            users.made.clear();
        }
        if websocket(path) {
            let answer = first_websocket_answer(&app, path, &cookie).await;
            assert!(
                !answer.contains("Forbidden") && !answer.contains("Unauthenticated"),
                "{path} refused with exactly {:?}: {answer}",
                d.needs
            );
        } else {
            let response = send(&app, request(path, &fill(d.sample, &values, &own), &cookie)).await;
            let status = response.status();
            let body = body_text(response).await;
            // A success, or the function's own verdict on the minimal input.
            let own_validation = status == StatusCode::BAD_REQUEST && body.contains("\"Invalid\"");
            assert!(
                status.is_success() || status.is_redirection() || own_validation,
                "{path} with exactly {:?}: {status} {body}",
                d.needs
            );
        }
        admitted += 1;
    }
    println!(
        "{} server functions: {refused} refusals for a missing permission, {scoped} out of scope, {admitted} admissions checked",
        paths.len()
    );
    assert_eq!(paths.len(), DECLARED.len());
    assert!(scoped >= 15, "{scoped} scoped checks");
}

/// Opens the websocket server function `path` on a real listener as the cookie's user, sends
/// job id 1 and returns the first thing the server answers (a refused handshake's status, or
/// the first message).
async fn first_websocket_answer(app: &Router, path: &str, cookie: &str) -> String {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(axum::serve(listener, app.clone()).into_future());
    let mut request = format!("ws://{addr}{path}")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("cookie", cookie.parse().expect("cookie"));
    request
        .headers_mut()
        .insert("origin", format!("http://{addr}").parse().expect("origin"));
    let answer = match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            format!("{} {body}", response.status())
        }
        Err(e) => format!("error: {e}"),
        Ok((mut socket, _)) => {
            socket
                .send(Message::text("1"))
                .await
                .expect("send the job id");
            match tokio::time::timeout(std::time::Duration::from_secs(5), socket.next()).await {
                Ok(Some(Ok(message))) => format!("{message:?}"),
                Ok(other) => format!("closed: {other:?}"),
                Err(_) => "no answer within 5 s".into(),
            }
        }
    };
    server.abort();
    answer
}
