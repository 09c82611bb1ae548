//! A fleet of simulated DPs against one site on PostgreSQL (a benchmark, not a test). Run:
//!
//!     cargo bench -p server --bench fleet
//!
//! (`WIMDECK_FLEET=N` for another size than 500; PostgreSQL at 127.0.0.1:5432 or
//! `TEST_POSTGRES_URL`.) The site is `wimdeck serve` on 127.0.0.1; the DPs are agents in this
//! process, each with its own folder and credential, speaking the real protocol over HTTP (long
//! polls, manifests, chunks, reports), as `wimdeck dp serve` runs them. Prints Markdown rows for
//! docs/benchmarks.md:
//! 1. enrolling every DP (one-time token for credential, over HTTP);
//! 2. a driver package distributed to a group of all of them: from the end of the distribute
//!    job to every DP's Success as the site shows it;
//! 3. with that many DPs and pairs: the Distribution points and Distribution status pages
//!    (server-rendered, signed in) and their server functions, median of 10.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use domain::{
    Actor, Domain, Role,
    authz::ObjectType,
    content::ContentObject,
    distribution::{actions::Targets, assign::DistState, points::NewDp},
    drivers::import::DriverImportRequest,
    fixtures::{Arch, drivers::DriverPackage},
    jobs::JobState,
    testing::{Backend, TestDb, wait_until_final},
};
use tokio_util::sync::CancellationToken;

const LONG: Duration = Duration::from_secs(600);
const PASSWORD: &str = "correct horse battery";

fn main() {
    let size: usize = std::env::var("WIMDECK_FLEET")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(bench(size));
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

async fn bench(size: usize) {
    let db = TestDb::create(Backend::Postgres).await;
    let root = db.data_dir.join("sources");
    std::fs::create_dir_all(&root).expect("root");
    let port = free_port();
    let site = format!("http://127.0.0.1:{port}");
    let config_file = db.data_dir.join("wimdeck.toml");
    std::fs::write(
        &config_file,
        format!(
            "data_dir = {:?}\ndatabase_url = {:?}\nlisten = \"127.0.0.1:{port}\"\nsite_root = {:?}\n\
             [images]\nsource_roots = [{:?}]\n[distribution]\npoll_wait_secs = 25\nsite_dp = false\n",
            db.data_dir, db.url, db.data_dir, root
        ),
    )
    .expect("config");
    let site_log = db.data_dir.join("site.log");
    let _site = Killed(
        Command::new(env!("CARGO_BIN_EXE_wimdeck"))
            .args(["serve", "--config", config_file.to_str().expect("utf-8")])
            .env_remove("WIMDECK_CONFIG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&site_log).expect("log"))
            .spawn()
            .expect("site"),
    );
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http
        .get(format!("{site}/healthz"))
        .send()
        .await
        .map_or(true, |r| !r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "the site did not start: {}",
            std::fs::read_to_string(&site_log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let config = domain::Config::load(
        Some(&config_file),
        &domain::config::ConfigOverrides::default(),
    )
    .expect("config");
    let domain = Domain::open(&config).await.expect("open");
    let id = domain
        .accounts()
        .create_user("admin", PASSWORD, &[Role::FullAdministrator])
        .await
        .expect("admin");
    let admin = domain.accounts().actor(id).await.expect("actor");
    let package = driver_package(&domain, &admin, &root).await;
    let object = ContentObject::new(ObjectType::DriverPackage, package);

    println!("| measurement ({size} DPs, PostgreSQL) | time |");
    println!("| --- | --- |");

    // 1. Enrollment.
    let points = domain.for_actor(&admin).distribution_points();
    let mut tokens = Vec::new();
    for n in 0..size {
        let dp = points
            .create(NewDp {
                name: format!("Branch {n:04}"),
                settings: Default::default(),
            })
            .await
            .expect("dp");
        tokens.push((dp, points.enrollment_token(dp).await.expect("token").0));
    }
    let dirs: Vec<PathBuf> = (0..size)
        .map(|n| db.data_dir.join(format!("dp-{n:04}")))
        .collect();
    let started = Instant::now();
    for ((_, token), dir) in tokens.iter().zip(&dirs) {
        server::dp::enroll(&site, token, dir, server::dp::client::Trust::System)
            .await
            .expect("enroll");
    }
    println!(
        "| enrolling every DP, one after the other | {:.1} s ({:.1} ms each) |",
        started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64() * 1000.0 / size as f64
    );
    let cancel = CancellationToken::new();
    let mut agents = Vec::new();
    for dir in &dirs {
        let (dir, cancel) = (dir.clone(), cancel.clone());
        agents.push(tokio::spawn(async move {
            server::dp::serve(&dir, cancel).await.expect("serve");
        }));
    }

    // 2. A group of every DP.
    let groups = domain.for_actor(&admin).dp_groups();
    let group = groups.create("Every branch", "").await.expect("group");
    let members: Vec<i64> = tokens.iter().map(|(dp, _)| *dp).collect();
    groups.set_members(group, &members).await.expect("members");
    let job = domain
        .for_actor(&admin)
        .distribution()
        .distribute(
            object,
            Targets {
                dps: vec![],
                groups: vec![group],
            },
        )
        .await
        .expect("distribute");
    let job = wait_until_final(&domain, job, LONG).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let started = Instant::now();
    let first = every_success(&domain, &admin, object, size, 1).await;
    println!(
        "| a driver package distributed to a group of every DP, until the site shows each Success | {:.1} s (first after {:.2} s) |",
        started.elapsed().as_secs_f64(),
        first
    );

    // 3. The pages, with every DP and pair.
    let cookie = sign_in(&http, &site).await;
    let mut rows = Vec::new();
    let package_page = format!("/drivers?package={}", object.object_id);
    let panel_form = format!("object_type=driver-package&object_id={}", object.object_id);
    for (label, method, path, form) in [
        (
            "Distribution points page (HTML)",
            "GET",
            "/distribution-points",
            "",
        ),
        (
            "Distribution status page (HTML)",
            "GET",
            "/distribution",
            "",
        ),
        (
            "its server function (a page of pairs, read again on each change)",
            "POST",
            "/api/distribution_status",
            "",
        ),
        (
            "Distribution points list server function",
            "POST",
            "/api/list_distribution_points",
            "",
        ),
        (
            "the package's page with its Distribution panel (HTML)",
            "GET",
            package_page.as_str(),
            "",
        ),
        (
            "the panel's server function",
            "POST",
            "/api/content_distribution",
            panel_form.as_str(),
        ),
    ] {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..10 {
            let started = Instant::now();
            let request = match method {
                "GET" => http.get(format!("{site}{path}")),
                _ => http
                    .post(format!("{site}{path}"))
                    .header("Origin", &site)
                    .header("Content-Type", "application/x-www-form-urlencoded")
                    .body(form.to_owned()),
            };
            let response = request
                .header("Cookie", &cookie)
                .send()
                .await
                .expect("page");
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            bytes = response.bytes().await.expect("body").len();
            times.push(started.elapsed().as_secs_f64());
        }
        rows.push(format!(
            "| {label}: median of 10 | {:.0} ms ({} KB) |",
            median(times) * 1000.0,
            bytes / 1024
        ));
    }
    for row in rows {
        println!("{row}");
    }

    cancel.cancel();
    for agent in agents {
        let _ = agent.await;
    }
    domain.close().await.expect("close");
}

/// Waits until every DP shows Success for `version`; returns when the first one did (s).
async fn every_success(
    domain: &Domain,
    admin: &Actor,
    object: ContentObject,
    size: usize,
    version: i32,
) -> f64 {
    let started = Instant::now();
    let deadline = started + LONG;
    let mut first = None;
    loop {
        let pairs = domain
            .for_actor(admin)
            .distribution_status()
            .pairs(Some(object), None)
            .await
            .expect("pairs");
        let done = pairs
            .iter()
            .filter(|p| p.state == DistState::Success && p.installed_version == Some(version))
            .count();
        if done > 0 && first.is_none() {
            first = Some(started.elapsed().as_secs_f64());
        }
        if let Some(failed) = pairs.iter().find(|p| p.state == DistState::Failed) {
            panic!("a DP failed: {failed:?}");
        }
        if done == size {
            return first.unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "{done} of {size} after {LONG:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn driver_package(domain: &Domain, admin: &Actor, root: &Path) -> i64 {
    DriverPackage::network("nic", &[Arch::Amd64])
        .write(&root.join("nic"))
        .expect("driver");
    let job = domain
        .for_actor(admin)
        .drivers()
        .import(DriverImportRequest {
            source: root.join("nic").display().to_string(),
            name: None,
            categories: vec![],
        })
        .await
        .expect("import");
    let job = wait_until_final(domain, job, LONG).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    job.result.expect("result")["package_id"]
        .as_i64()
        .expect("package")
}

async fn sign_in(http: &reqwest::Client, site: &str) -> String {
    let response = http
        .post(format!("{site}/api/sign_in"))
        .header("Origin", site)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "username=admin&password={}",
            PASSWORD.replace(' ', "+")
        ))
        .send()
        .await
        .expect("sign in");
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("wimdeck_session=") && !v.starts_with("wimdeck_session=;"))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
        .expect("session cookie")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}
