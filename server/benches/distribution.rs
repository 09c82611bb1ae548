//! Distribution benchmarks (not tests; needs root for network namespaces). Run:
//!
//!     cargo bench -p server --bench distribution
//!
//! A site (`wimdeck serve`) and a DP (`wimdeck dp serve`) run in two network namespaces joined by
//! a veth pair (10.231.0.1 and 10.231.0.2, addresses that exist only there). Prints Markdown
//! rows for docs/benchmarks.md:
//! 1. A 1 GiB OS image sent to the DP (from the moment its assignment exists to the site's
//!    Success, which the DP reports only after every file is assembled and checked), beside
//!    `curl` downloading the same file from an HTTP server in the site's namespace over the same
//!    link (axum's static file service, as the site is built on axum), written to disk.
//! 2. The bytes a new version needs on that DP after one 5 MiB file of the image changed (the
//!    new version is a new WIM file, as Wimdeck writes revisions), against its size.
//! 3. The content library's size for two editions that share most files, exported separately,
//!    against the sum of their sizes.
//! 4. The bytes a boot image's new revision needs on that DP after a driver was injected (a
//!    real build: Wimdeck writes the revision as a new, compressed WIM), against its size.

use std::{
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use domain::{
    Actor, Domain, Role,
    authz::ObjectType,
    catalog::{ImageKind, kinds::ImportRequest},
    content::ContentObject,
    distribution::{
        actions::Targets,
        assign::DistState,
        points::{DpSettings, NewDp},
    },
    drivers::{catalog::DriverFilter, import::DriverImportRequest},
    fixtures::{
        self, Arch, WinPeRelease, WindowsTree,
        drivers::{CatalogState, DriverPackage},
    },
    jobs::JobState,
    testing::{Backend, TestDb, wait_until_final},
};

const SITE_NS: &str = "wdb-site";
const DP_NS: &str = "wdb-dp";
const SITE_IP: &str = "10.231.0.1";
const DP_IP: &str = "10.231.0.2";
const FILES: usize = 200;
const FILE_MIB: usize = 5;
const LONG: Duration = Duration::from_secs(1800);

fn main() {
    // The reference file server, started by this program inside the site's namespace.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--serve-file") {
        serve_file(&args[2], &args[3]);
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _net = Namespaces::create();
    runtime.block_on(bench());
}

fn serve_file(file: &str, addr: &str) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let app = axum::Router::new()
            .route_service("/file.wim", tower_http::services::ServeFile::new(file));
        let addr: SocketAddr = addr.parse().expect("address");
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        axum::serve(listener, app).await.expect("serve");
    });
}

/// Two namespaces and the veth pair between them, removed on drop.
struct Namespaces;

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("ip");
    assert!(status.success(), "ip {args:?}");
}

impl Namespaces {
    fn create() -> Self {
        let _ = Command::new("ip").args(["netns", "del", SITE_NS]).status();
        let _ = Command::new("ip").args(["netns", "del", DP_NS]).status();
        ip(&["netns", "add", SITE_NS]);
        ip(&["netns", "add", DP_NS]);
        ip(&[
            "link", "add", "wdb0", "type", "veth", "peer", "name", "wdb1",
        ]);
        ip(&["link", "set", "wdb0", "netns", SITE_NS]);
        ip(&["link", "set", "wdb1", "netns", DP_NS]);
        for (ns, dev, addr) in [(SITE_NS, "wdb0", SITE_IP), (DP_NS, "wdb1", DP_IP)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        Self
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", SITE_NS]).status();
        let _ = Command::new("ip").args(["netns", "del", DP_NS]).status();
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn in_ns(ns: &str, program: &str, args: &[&str]) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", ns, program]).args(args);
    command.env_remove("WIMDECK_CONFIG");
    command
}

fn random_file(path: &Path, bytes: usize, seed: u64) {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let data: Vec<u8> = (0..bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(path, data).expect("write");
}

/// A Windows tree with `FILES` files of `FILE_MIB` MiB, captured uncompressed.
fn capture(tree: &Path, wim: &Path, seed: u64) {
    WindowsTree::windows11(Arch::Amd64, "Professional", "Windows 11 Pro")
        .write(tree)
        .expect("tree");
    let dir = tree.join("Windows/System32/DriverStore");
    std::fs::create_dir_all(&dir).expect("dir");
    for n in 0..FILES {
        let path = dir.join(format!("blob{n:03}.bin"));
        if !path.exists() {
            random_file(&path, FILE_MIB << 20, seed + n as u64);
        }
    }
    let _ = std::fs::remove_file(wim);
    let out = Command::new("wimlib-imagex")
        .args([
            "capture",
            tree.to_str().expect("utf-8"),
            wim.to_str().expect("utf-8"),
            "Windows 11 Pro",
            "--compress=none",
        ])
        .output()
        .expect("wimlib-imagex");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mib_s(bytes: u64, secs: f64) -> String {
    format!("{:.0} MiB/s", bytes as f64 / 1048576.0 / secs)
}

async fn import(domain: &Domain, admin: &Actor, wim: &Path, name: &str) -> i64 {
    import_kind(domain, admin, wim, name, ImageKind::Os).await
}

async fn import_kind(
    domain: &Domain,
    admin: &Actor,
    wim: &Path,
    name: &str,
    kind: ImageKind,
) -> i64 {
    let job = domain
        .for_actor(admin)
        .catalog()
        .import(ImportRequest {
            kind,
            source: wim.display().to_string(),
            index: None,
            name: Some(name.into()),
            version: String::new(),
            comment: String::new(),
            architecture: None,
            language: None,
        })
        .await
        .expect("import");
    let job = wait_until_final(domain, job, LONG).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    job.result.expect("result")["image_id"]
        .as_i64()
        .expect("id")
}

async fn wait_success(
    domain: &Domain,
    admin: &Actor,
    object: ContentObject,
    dp: i64,
    version: i32,
) {
    let deadline = Instant::now() + LONG;
    loop {
        let pairs = domain
            .for_actor(admin)
            .distribution_status()
            .pairs(Some(object), Some(dp))
            .await
            .expect("pairs");
        if let Some(p) = pairs.first() {
            assert_ne!(p.state, DistState::Failed, "{:?}", p.detail);
            if p.state == DistState::Success && p.installed_version == Some(version) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "no success: {pairs:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn bench() {
    let db = TestDb::create(Backend::Sqlite).await;
    let root = db.data_dir.join("sources");
    std::fs::create_dir_all(&root).expect("root");
    let config_file = db.data_dir.join("wimdeck.toml");
    std::fs::write(
        &config_file,
        format!(
            "data_dir = {:?}\ndatabase_url = {:?}\nlisten = \"{SITE_IP}:8080\"\nsite_root = {:?}\n\
             [images]\nsource_roots = [{:?}]\n[distribution]\npoll_wait_secs = 25\nsite_dp = false\n",
            db.data_dir, db.url, db.data_dir, root
        ),
    )
    .expect("config");
    let bin = env!("CARGO_BIN_EXE_wimdeck");
    let site_log = db.data_dir.join("site.log");
    let _site = Killed(
        in_ns(
            SITE_NS,
            bin,
            &["serve", "--config", config_file.to_str().expect("utf-8")],
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&site_log).expect("log"))
        .spawn()
        .expect("site"),
    );
    // The site listens once its probe answers from the DP's side (it migrates the database
    // first; this process opens it after).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !in_ns(
        DP_NS,
        "curl",
        &["-sf", &format!("http://{SITE_IP}:8080/healthz")],
    )
    .stdout(Stdio::null())
    .status()
    .expect("curl")
    .success()
    {
        assert!(
            Instant::now() < deadline,
            "the site did not start: {}",
            std::fs::read_to_string(&site_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let config = domain::Config::load(
        Some(&config_file),
        &domain::config::ConfigOverrides::default(),
    )
    .expect("config");
    let domain = Domain::open(&config).await.expect("open");
    let id = domain
        .accounts()
        .create_user("admin", "correct horse battery", &[Role::FullAdministrator])
        .await
        .expect("admin");
    let admin = domain.accounts().actor(id).await.expect("actor");

    let tree = root.join("tree");
    let wim = root.join("v1.wim");
    capture(&tree, &wim, 1);
    let image = import(&domain, &admin, &wim, "One GiB").await;
    let object = ContentObject::new(ObjectType::OsImage, image);
    let file = domain.catalog().get(image).await.expect("image");

    // The DP.
    let points = domain.for_actor(&admin).distribution_points();
    let dp = points
        .create(NewDp {
            name: "Bench DP".into(),
            settings: DpSettings::default(),
        })
        .await
        .expect("dp");
    let (token, _) = points.enrollment_token(dp).await.expect("token");
    let dp_dir = db.data_dir.join("dp");
    let out = in_ns(
        DP_NS,
        bin,
        &[
            "dp",
            "enroll",
            "--site",
            &format!("http://{SITE_IP}:8080"),
            "--token",
            &token,
            "--data-dir",
            dp_dir.to_str().expect("utf-8"),
        ],
    )
    .output()
    .expect("enroll");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _agent = Killed(
        in_ns(
            DP_NS,
            bin,
            &["dp", "serve", "--data-dir", dp_dir.to_str().expect("utf-8")],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dp serve"),
    );

    println!("| measurement | Wimdeck | reference | ratio |");
    println!("| --- | --- | --- | --- |");

    // 1. The transfer.
    let job = domain
        .for_actor(&admin)
        .distribution()
        .distribute(
            object,
            Targets {
                dps: vec![dp],
                groups: vec![],
            },
        )
        .await
        .expect("distribute");
    let job = wait_until_final(&domain, job, LONG).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let started = Instant::now();
    wait_success(&domain, &admin, object, dp, 1).await;
    let ours = started.elapsed().as_secs_f64();

    let exe = std::env::current_exe().expect("exe");
    let _reference = Killed(
        in_ns(
            SITE_NS,
            exe.to_str().expect("utf-8"),
            &[
                "--serve-file",
                file.file_path.to_str().expect("utf-8"),
                &format!("{SITE_IP}:8081"),
            ],
        )
        .spawn()
        .expect("reference server"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let target = db.data_dir.join("curl.wim");
    let mut times = Vec::new();
    for _ in 0..3 {
        let _ = std::fs::remove_file(&target);
        let started = Instant::now();
        let status = in_ns(
            DP_NS,
            "curl",
            &[
                "-sf",
                "-o",
                target.to_str().expect("utf-8"),
                &format!("http://{SITE_IP}:8081/file.wim"),
            ],
        )
        .status()
        .expect("curl");
        assert!(status.success());
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let curl = times[1];
    println!(
        "| 1 GiB OS image to one DP over veth, verified in place | {:.2} s ({}) | curl {:.2} s ({}) | {:.2}× |",
        ours,
        mib_s(file.file_bytes, ours),
        curl,
        mib_s(file.file_bytes, curl),
        curl / ours
    );

    // 2. One 5 MiB file changes: the new version needs about that much.
    random_file(
        &tree.join("Windows/System32/DriverStore/blob100.bin"),
        FILE_MIB << 20,
        999,
    );
    let wim2 = root.join("v2.wim");
    capture(&tree, &wim2, 1);
    domain::testing::replace_image_file(&domain, image, &wim2)
        .await
        .expect("new revision");
    let job = domain
        .for_actor(&admin)
        .distribution()
        .update(object)
        .await
        .expect("update");
    let job = wait_until_final(&domain, job, LONG).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    let version = domain
        .content()
        .latest(object)
        .await
        .expect("latest")
        .expect("version");
    wait_success(&domain, &admin, object, dp, version.number).await;
    let pair = domain
        .for_actor(&admin)
        .distribution_status()
        .pairs(Some(object), Some(dp))
        .await
        .expect("pairs")
        .remove(0);
    let needed = pair.bytes_needed.unwrap_or(0);
    let total = pair.bytes_total.unwrap_or(1);
    println!(
        "| bytes sent for a new version after one 5 MiB file of a 1 GiB image changed | {:.1} MiB | {:.1} MiB (the whole image) | {:.2}% |",
        needed as f64 / 1048576.0,
        total as f64 / 1048576.0,
        needed as f64 * 100.0 / total as f64
    );

    // 3. Two editions exported separately share most of their files.
    let home_tree = root.join("home");
    let home = root.join("home.wim");
    capture(&home_tree, &home, 1);
    std::fs::remove_file(home_tree.join("Windows/System32/DriverStore/blob199.bin")).expect("rm");
    random_file(
        &home_tree.join("Windows/System32/DriverStore/home-only.bin"),
        FILE_MIB << 20,
        4242,
    );
    let _ = std::fs::remove_file(&home);
    capture(&home_tree, &home, 1);
    let home_id = import(&domain, &admin, &home, "Home").await;
    let job = domain
        .for_actor(&admin)
        .distribution()
        .distribute(
            ContentObject::new(ObjectType::OsImage, home_id),
            Targets {
                dps: vec![dp],
                groups: vec![],
            },
        )
        .await
        .expect("distribute home");
    wait_until_final(&domain, job, LONG).await;
    let home_version = domain
        .content()
        .latest(ContentObject::new(ObjectType::OsImage, home_id))
        .await
        .expect("latest")
        .expect("version");
    let pro_bytes = version.total_bytes;
    let stored = pro_bytes + home_version.new_bytes;
    let sum = pro_bytes + home_version.total_bytes;
    println!(
        "| content library for two editions exported separately ({} of {} files shared) | {:.1} MiB stored | {:.1} MiB (the two WIMs) | {:.2}× |",
        FILES - 1,
        FILES,
        stored as f64 / 1048576.0,
        sum as f64 / 1048576.0,
        stored as f64 / sum as f64
    );

    // 4. A driver injected into a boot image.
    driver_injection(&domain, &admin, &root, dp).await;
    domain.close().await.expect("close");
}

/// Distributes a Windows PE boot image (about 300 MiB compressed), injects one network driver
/// (1 MiB of binaries) with a real build, updates the DP and prints what the new revision
/// needed there.
async fn driver_injection(domain: &Domain, admin: &Actor, root: &Path, dp: i64) {
    async fn job_done(domain: &Domain, job: i64) {
        let job = wait_until_final(domain, job, LONG).await;
        assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    }
    let mut tree = WindowsTree::winpe(Arch::Amd64, WinPeRelease::V10);
    for i in 0..2400usize {
        let folder = ["Windows/System32", "Windows/SysWOW64", "Windows/WinSxS"][i % 3];
        // 16 KiB to ~580 KiB, averaging ~300 KiB, as the boot benchmark's image.
        tree.files.push((
            format!("{folder}/file{i:05}.dll"),
            16 * 1024 + (i * 7919) % (576 * 1024),
        ));
    }
    let tree_dir = root.join("winpe");
    tree.write(&tree_dir).expect("tree");
    let wim = root.join("boot.wim");
    fixtures::capture(&tree_dir, "Microsoft Windows PE (amd64)", &wim, true).expect("capture");
    let boot = import_kind(domain, admin, &wim, "WinPE", ImageKind::Boot).await;
    let object = ContentObject::new(ObjectType::BootImage, boot);
    let actor = domain.for_actor(admin);
    let job = actor
        .distribution()
        .distribute(
            object,
            Targets {
                dps: vec![dp],
                groups: vec![],
            },
        )
        .await
        .expect("distribute boot");
    job_done(domain, job).await;
    let first = domain
        .content()
        .latest(object)
        .await
        .expect("latest")
        .expect("version");
    wait_success(domain, admin, object, dp, first.number).await;

    let mut package = DriverPackage::network("benchnic", &[Arch::Amd64]);
    package.catalog = CatalogState::Valid;
    package.binary_bytes = 1 << 20;
    package
        .write(&root.join("drivers/benchnic"))
        .expect("package");
    let job = actor
        .drivers()
        .import(DriverImportRequest {
            source: root.join("drivers").display().to_string(),
            name: None,
            categories: Vec::new(),
        })
        .await
        .expect("driver import");
    job_done(domain, job).await;
    let drivers = actor
        .drivers()
        .list(&DriverFilter::default())
        .await
        .expect("drivers")
        .drivers;
    let ids: Vec<i64> = drivers.iter().map(|d| d.id).collect();
    actor.boot_drivers().add(boot, &ids).await.expect("add");
    let job = actor.boot_images().build(boot).await.expect("build");
    job_done(domain, job).await;
    let job = actor.distribution().update(object).await.expect("update");
    job_done(domain, job).await;
    let second = domain
        .content()
        .latest(object)
        .await
        .expect("latest")
        .expect("version");
    assert!(second.number > first.number, "the build made a new version");
    wait_success(domain, admin, object, dp, second.number).await;
    let pair = actor
        .distribution_status()
        .pairs(Some(object), Some(dp))
        .await
        .expect("pairs")
        .remove(0);
    let needed = pair.bytes_needed.unwrap_or(0);
    let total = pair.bytes_total.unwrap_or(1);
    let driver_bytes: u64 = drivers.iter().map(|d| d.size_bytes).sum();
    println!(
        "| bytes sent for a boot image's new revision after one driver ({:.1} MiB) was injected | {:.1} MiB | {:.1} MiB (the whole boot image) | {:.2}% |",
        driver_bytes as f64 / 1048576.0,
        needed as f64 / 1048576.0,
        total as f64 / 1048576.0,
        needed as f64 * 100.0 / total as f64
    );
}
