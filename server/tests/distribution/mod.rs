//! Distribution with real processes: a site (`wimdeck serve`) and three DPs (`wimdeck dp
//! enroll`, `wimdeck dp serve`) on 127.0.0.1. Content reaches every DP byte-identical; a DP
//! killed with SIGKILL at random moments of a transfer resumes without a damaged file ever at
//! its final name; a flipped byte is found by Validate and healed by Redistribute; a DP whose
//! disk is full reports it and keeps its older version; a revoked DP is refused.

mod faults;
mod prestaged;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
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
        protocol::WorkAction,
        status::PairStatus,
    },
    fixtures::{Arch, WindowsTree},
    jobs::JobState,
    testing::{Backend, TestDb, wait_until_final},
};

const SETTLE: Duration = Duration::from_secs(120);

struct Site {
    db: TestDb,
    config_file: PathBuf,
    root: PathBuf,
    url: String,
    server: Child,
}

impl Site {
    async fn start(backend: Backend) -> Self {
        Self::start_on(backend, "127.0.0.1:0").await
    }

    /// A site listening on `listen` (an address a test assigned, with port 0).
    async fn start_on(backend: Backend, listen: &str) -> Self {
        let db = TestDb::create(backend).await;
        let root = db.data_dir.join("sources");
        std::fs::create_dir_all(&root).expect("root");
        let config_file = db.data_dir.join("wimdeck.toml");
        std::fs::write(
            &config_file,
            format!(
                "data_dir = {:?}\ndatabase_url = {:?}\nlisten = {listen:?}\nsite_root = {:?}\n\
                 [jobs]\nlease_secs = 5\nheartbeat_ms = 300\nshutdown_grace_secs = 1\n\
                 [images]\nsource_roots = [{:?}]\n[distribution]\npoll_wait_secs = 2\n",
                db.data_dir, db.url, db.data_dir, root
            ),
        )
        .expect("config");
        let mut server = Command::new(env!("CARGO_BIN_EXE_wimdeck"))
            .args(["serve", "--config", config_file.to_str().expect("utf-8")])
            .env_remove("WIMDECK_CONFIG")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = server.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on http://") {
                    let url = line[at + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    let _ = tx.send(url);
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the site did not start listening");
        Self {
            db,
            config_file,
            root,
            url,
            server,
        }
    }

    async fn domain(&self) -> Domain {
        let config = domain::Config::load(
            Some(&self.config_file),
            &domain::config::ConfigOverrides::default(),
        )
        .expect("configuration");
        Domain::open(&config).await.expect("open")
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// A DP process and its folder.
struct Dp {
    id: i64,
    dir: PathBuf,
    /// The network namespace it runs in, if not this one.
    netns: Option<String>,
    process: Option<Child>,
}

/// `wimdeck`, run in `netns` when given.
fn wimdeck(netns: Option<&str>) -> Command {
    match netns {
        Some(netns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", netns, env!("CARGO_BIN_EXE_wimdeck")]);
            command
        }
        None => Command::new(env!("CARGO_BIN_EXE_wimdeck")),
    }
}

impl Dp {
    fn serve(&mut self) {
        let child = wimdeck(self.netns.as_deref())
            .args([
                "dp",
                "serve",
                "--data-dir",
                self.dir.to_str().expect("utf-8"),
            ])
            .env_remove("WIMDECK_CONFIG")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dp serve");
        self.process = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The file a content's version in use holds, if any.
    fn current_file(&self, content_id: i64, name: &str) -> Option<PathBuf> {
        let path = self
            .dir
            .join("content")
            .join(content_id.to_string())
            .join("current")
            .join(name);
        path.exists().then_some(path)
    }
}

impl Drop for Dp {
    fn drop(&mut self) {
        self.kill();
    }
}

fn sha256(path: &Path) -> String {
    domain::fsx::sha256_file(path).expect("sha256")
}

async fn admin(domain: &Domain) -> Actor {
    let id = domain
        .accounts()
        .create_user("admin", "correct horse battery", &[Role::FullAdministrator])
        .await
        .expect("admin");
    domain.accounts().actor(id).await.expect("actor")
}

/// A WIM of about `mib` MiB of incompressible files (`seed` decides their bytes).
fn capture(site: &Site, name: &str, mib: usize, seed: u64) -> PathBuf {
    let tree_dir = site.root.join(format!("tree-{name}"));
    let tree = WindowsTree::windows11(Arch::Amd64, "Professional", "Windows 11 Pro");
    tree.write(&tree_dir).expect("tree");
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ seed;
    for n in 0..mib {
        let bytes: Vec<u8> = (0..1 << 20)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        std::fs::write(
            tree_dir.join(format!("Windows/System32/blob{n}.bin")),
            bytes,
        )
        .expect("blob");
    }
    // Uncompressed (random data does not compress; LZX would only cost the suite time).
    let wim = site.root.join(format!("{name}.wim"));
    let out = Command::new("wimlib-imagex")
        .args([
            "capture",
            tree_dir.to_str().expect("utf-8"),
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
    wim
}

/// An OS image of about `mib` MiB (incompressible files, so its WIM is that large).
async fn os_image(site: &Site, domain: &Domain, admin: &Actor, name: &str, mib: usize) -> i64 {
    let wim = capture(site, name, mib, name.len() as u64);
    let job = domain
        .for_actor(admin)
        .catalog()
        .import(ImportRequest {
            kind: ImageKind::Os,
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
    let job = wait_until_final(domain, job, SETTLE).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
    job.result.expect("result")["image_id"]
        .as_i64()
        .expect("id")
}

/// Creates a DP in the console and enrolls a folder as it with the real command.
async fn enroll(
    site: &Site,
    domain: &Domain,
    admin: &Actor,
    name: &str,
    settings: DpSettings,
    netns: Option<&str>,
) -> Dp {
    let points = domain.for_actor(admin).distribution_points();
    let id = points
        .create(NewDp {
            name: name.into(),
            settings,
        })
        .await
        .expect("create");
    let (token, _) = points.enrollment_token(id).await.expect("token");
    let dir = site.db.data_dir.join(format!("dp-{id}"));
    let out = wimdeck(netns)
        .args([
            "dp",
            "enroll",
            "--site",
            &site.url,
            "--token",
            &token,
            "--data-dir",
            dir.to_str().expect("utf-8"),
        ])
        .env_remove("WIMDECK_CONFIG")
        .output()
        .expect("enroll");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("\"{name}\"")));
    // The token works once.
    let again = Command::new(env!("CARGO_BIN_EXE_wimdeck"))
        .args([
            "dp",
            "enroll",
            "--site",
            &site.url,
            "--token",
            &token,
            "--data-dir",
            site.db.data_dir.join("elsewhere").to_str().expect("utf-8"),
        ])
        .env_remove("WIMDECK_CONFIG")
        .output()
        .expect("enroll again");
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not a valid enrollment token"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    Dp {
        id,
        dir,
        netns: netns.map(str::to_owned),
        process: None,
    }
}

async fn pair(
    domain: &Domain,
    admin: &Actor,
    object: ContentObject,
    dp: i64,
) -> Option<PairStatus> {
    domain
        .for_actor(admin)
        .distribution_status()
        .pairs(Some(object), Some(dp))
        .await
        .expect("pairs")
        .into_iter()
        .next()
}

/// Waits until the pair is in `state` for version `version` (the site's word).
async fn wait_state(
    domain: &Domain,
    admin: &Actor,
    object: ContentObject,
    dp: i64,
    state: DistState,
    version: Option<i32>,
) -> PairStatus {
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Some(p) = pair(domain, admin, object, dp).await
            && p.state == state
            && (version.is_none() || p.installed_version == version || state != DistState::Success)
        {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "DP {dp} never reached {state:?}: {:?}",
            pair(domain, admin, object, dp).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The library's id of an object's content (it is in the library once distributed).
async fn content_id(domain: &Domain, object: ContentObject) -> i64 {
    domain
        .content()
        .content_of(object)
        .await
        .expect("content")
        .expect("in the library")
        .id
}

async fn distribute(domain: &Domain, admin: &Actor, object: ContentObject, dps: Vec<i64>) {
    let job = domain
        .for_actor(admin)
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
    let job = wait_until_final(domain, job, SETTLE).await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}", job.error);
}

async fn three_dps_and_faults(backend: Backend) {
    let site = Site::start(backend).await;
    let domain = site.domain().await;
    let admin = admin(&domain).await;
    let image = os_image(&site, &domain, &admin, "Pro", 16).await;
    let object = ContentObject::new(ObjectType::OsImage, image);
    let expected = domain.catalog().get(image).await.expect("image").sha256;

    // Three DPs; the third is slow (512 KiB/s: 32 s for the image), to be killed mid-transfer
    // (20 kills 0.3 to 1.8 s after its start leave it about two thirds done).
    let mut dps = Vec::new();
    for (n, rate) in [(1, None), (2, None), (3, Some(512))] {
        let settings = DpSettings {
            rate_limit_kbps: rate,
            ..DpSettings::default()
        };
        dps.push(
            enroll(
                &site,
                &domain,
                &admin,
                &format!("Branch {n}"),
                settings,
                None,
            )
            .await,
        );
    }
    for dp in dps.iter_mut().take(2) {
        dp.serve();
    }
    let ids: Vec<i64> = dps.iter().map(|d| d.id).collect();
    distribute(&domain, &admin, object, ids.clone()).await;
    let content_id = content_id(&domain, object).await;
    for dp in dps.iter().take(2) {
        let done = wait_state(&domain, &admin, object, dp.id, DistState::Success, Some(1)).await;
        assert_eq!(done.bytes_needed, done.bytes_total);
        let file = dp.current_file(content_id, "install.wim").expect("file");
        assert_eq!(sha256(&file), expected, "byte-identical on DP {}", dp.id);
    }

    // SIGKILL at random moments of the slow DP's transfer: no damaged file ever at its final
    // name, no Success before the end, and in the end the same bytes.
    let mut seed = 0x2545_F491_4F6C_DD1Du64 ^ u64::from(std::process::id());
    println!("kill seed {seed:#x}");
    let slow = &mut dps[2];
    let mut kills = 0;
    let mut kept = 0;
    while kills < 20 {
        slow.serve();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(300 + seed % 1500)).await;
        slow.kill();
        kills += 1;
        assert!(
            slow.current_file(content_id, "install.wim").is_none(),
            "nothing reaches its final name before the whole version is verified"
        );
        let status = pair(&domain, &admin, object, slow.id).await.expect("pair");
        assert_ne!(status.state, DistState::Success, "after kill {kills}");
        // What the killed runs wrote: staged files and cached chunks.
        kept = walk(&slow.dir)
            .iter()
            .filter(|p| !p.0.ends_with("dp.json") && p.0.extension().is_none_or(|e| e != "json"))
            .map(|p| p.1)
            .sum::<u64>();
        println!("kill {kills}: {kept} bytes kept");
    }
    let total = domain.catalog().get(image).await.expect("image").file_bytes;
    assert!(
        kept > total / 4,
        "the killed runs kept what they fetched: {kept} of {total}"
    );
    slow.serve();
    let done = wait_state(
        &domain,
        &admin,
        object,
        slow.id,
        DistState::Success,
        Some(1),
    )
    .await;
    assert!(
        done.bytes_needed.unwrap_or(u64::MAX) < done.bytes_total.unwrap_or(0),
        "the last run fetched only what the killed ones had not: {:?}",
        done.bytes_needed
    );
    let file = slow.current_file(content_id, "install.wim").expect("file");
    assert_eq!(sha256(&file), expected);
    slow.kill();

    // A flipped byte on DP 1: Validate reports it, Redistribute heals it.
    let file = dps[0]
        .current_file(content_id, "install.wim")
        .expect("file");
    let mut bytes = std::fs::read(&file).expect("read");
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    std::fs::write(&file, &bytes).expect("flip");
    let distribution = domain.for_actor(&admin).distribution();
    distribution
        .on_dp(object, dps[0].id, WorkAction::Validate)
        .await
        .expect("validate");
    let failed = wait_state(
        &domain,
        &admin,
        object,
        dps[0].id,
        DistState::ValidationFailed,
        None,
    )
    .await;
    assert!(
        failed
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("install.wim: SHA-256 differs"),
        "{failed:?}"
    );
    distribution
        .on_dp(object, dps[0].id, WorkAction::Redistribute)
        .await
        .expect("redistribute");
    let healed = wait_state(
        &domain,
        &admin,
        object,
        dps[0].id,
        DistState::Success,
        Some(1),
    )
    .await;
    assert!(
        healed.bytes_needed.unwrap_or(u64::MAX) <= 1 << 20,
        "{healed:?}"
    );
    assert_eq!(sha256(&file), expected);

    // A revoked DP is refused at its next request.
    domain
        .for_actor(&admin)
        .distribution_points()
        .revoke(dps[1].id)
        .await
        .expect("revoke");
    let enrollment: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dps[1].dir.join("dp.json")).expect("dp.json"))
            .expect("json");
    let refused = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "-H",
            &format!(
                "Authorization: Bearer {}",
                enrollment["credential"].as_str().expect("credential")
            ),
            "-H",
            "Content-Type: application/json",
            "--data",
            r#"{"protocol":1,"report":{"agent_version":"x","free_bytes":0,"library_bytes":0},"wait_secs":0}"#,
            &format!("{}/dp/v1/poll", site.url),
        ])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&refused.stdout), "401");

    for dp in &mut dps {
        dp.kill();
    }
    domain.close().await.expect("close");
}

fn walk(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if let Ok(meta) = entry.metadata() {
            out.push((path, meta.len()));
        }
    }
    out
}

/// One backend after the other: each run is four processes, and the rest of the suite runs
/// beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_dps_resume_after_kills_heal_after_validation_and_refuse_when_revoked() {
    three_dps_and_faults(Backend::Sqlite).await;
    three_dps_and_faults(Backend::Postgres).await;
}
