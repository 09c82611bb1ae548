//! Faults between the site and a DP, and on the DP's disk, with real processes: a DP in a
//! network namespace whose link drops packets (nftables) and queues them behind a bottleneck
//! (tc), killed now and then, never holds a damaged file under its final name and the site
//! never shows Success before the DP verified every file; a DP whose disk fills up reports it
//! and keeps the version it had.

use std::{path::Path, process::Command, time::Duration};

use domain::{
    authz::ObjectType,
    content::ContentObject,
    distribution::{assign::DistState, points::DpSettings},
    testing::Backend,
};

use super::{
    Dp, SETTLE, Site, admin, capture, content_id, distribute, enroll, os_image, pair, sha256,
    wait_state,
};

/// Runs a command that must succeed.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace for one DP, joined to this one by a veth pair (host side
/// 10.233.N.1/30, the DP's side 10.233.N.2/30), both removed when dropped.
struct Netns {
    name: String,
    host_address: String,
}

impl Netns {
    fn create() -> Self {
        let tag = std::process::id() % 100_000;
        let name = format!("wdf{tag}");
        let (host_if, dp_if) = (format!("wdf{tag}h"), format!("wdf{tag}d"));
        let subnet = 20 + tag % 200;
        let host_address = format!("10.233.{subnet}.1");
        let dp_address = format!("10.233.{subnet}.2");
        // Leftovers of a run that was killed.
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let _ = Command::new("ip").args(["link", "del", &host_if]).output();
        run("ip", &["netns", "add", &name]);
        let netns = Self {
            name: name.clone(),
            host_address: host_address.clone(),
        };
        run(
            "ip",
            &[
                "link", "add", &host_if, "type", "veth", "peer", "name", &dp_if,
            ],
        );
        run("ip", &["link", "set", &dp_if, "netns", &name]);
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{host_address}/30"),
                "dev",
                &host_if,
            ],
        );
        run("ip", &["link", "set", &host_if, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &name];
            all.extend_from_slice(args);
            run("ip", &all);
        };
        inside(&["ip", "link", "set", "lo", "up"]);
        inside(&[
            "ip",
            "addr",
            "add",
            &format!("{dp_address}/30"),
            "dev",
            &dp_if,
        ]);
        inside(&["ip", "link", "set", &dp_if, "up"]);
        // Delay: both directions queue behind a 40 Mbit/s bottleneck (up to 100 ms).
        for (namespace, device) in [(None, host_if.as_str()), (Some(&name), dp_if.as_str())] {
            let mut args = Vec::new();
            if let Some(namespace) = namespace {
                args.extend(["netns", "exec", namespace.as_str(), "tc"]);
            }
            args.extend([
                "qdisc", "add", "dev", device, "root", "tbf", "rate", "40mbit", "burst", "32kb",
                "latency", "100ms",
            ]);
            if namespace.is_some() {
                run("ip", &args);
            } else {
                run("tc", &args);
            }
        }
        // Loss: 3% of the packets in each direction, counted.
        let rules = "table inet chaos {\n\
             chain in { type filter hook input priority 0; policy accept; numgen random mod 1000 < 30 counter drop; }\n\
             chain out { type filter hook output priority 0; policy accept; numgen random mod 1000 < 30 counter drop; }\n\
             }\n";
        let rules_file = std::env::temp_dir().join(format!("{name}.nft"));
        std::fs::write(&rules_file, rules).expect("rules");
        inside(&["nft", "-f", rules_file.to_str().expect("utf-8")]);
        let _ = std::fs::remove_file(&rules_file);
        netns
    }

    /// Packets the rules dropped so far.
    fn dropped(&self) -> u64 {
        let out = Command::new("ip")
            .args([
                "netns", "exec", &self.name, "nft", "list", "table", "inet", "chaos",
            ])
            .output()
            .expect("nft");
        String::from_utf8_lossy(&out.stdout)
            .split("packets ")
            .skip(1)
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Removing the namespace removes its end of the veth pair, and with it the other.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Watches a pair and the DP's folder until the site says Success: whenever a file is under
/// its final name it is the whole verified file, and Success comes only with it.
async fn watch_until_success(
    site_domain: &domain::Domain,
    admin: &domain::Actor,
    object: ContentObject,
    dp: &mut Dp,
    content_id: i64,
    expected: &str,
    kills: &mut u32,
) -> u32 {
    let deadline = std::time::Instant::now() + SETTLE * 2;
    let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(std::process::id());
    let mut next_kill = std::time::Instant::now() + Duration::from_millis(700);
    let mut observations = 0;
    loop {
        let status = pair(site_domain, admin, object, dp.id).await;
        let file = dp.current_file(content_id, "install.wim");
        if let Some(file) = &file {
            assert_eq!(
                sha256(file),
                expected,
                "a file under its final name is whole"
            );
        }
        observations += 1;
        if let Some(status) = status
            && status.state == DistState::Success
        {
            assert!(file.is_some(), "Success only once the DP holds the file");
            return observations;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no Success over the lossy link: {:?}",
            pair(site_domain, admin, object, dp.id).await
        );
        if *kills < 3 && std::time::Instant::now() >= next_kill {
            dp.kill();
            *kills += 1;
            dp.serve();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            next_kill = std::time::Instant::now() + Duration::from_millis(400 + seed % 1200);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lossy_slow_link_never_yields_a_damaged_file_or_an_early_success() {
    let netns = Netns::create();
    let site = Site::start_on(Backend::Sqlite, &format!("{}:0", netns.host_address)).await;
    let domain = site.domain().await;
    let admin = admin(&domain).await;
    let image = os_image(&site, &domain, &admin, "Lossy", 12).await;
    let object = ContentObject::new(ObjectType::OsImage, image);
    let expected = domain.catalog().get(image).await.expect("image").sha256;
    let mut dp = enroll(
        &site,
        &domain,
        &admin,
        "Behind a lossy link",
        DpSettings::default(),
        Some(&netns.name),
    )
    .await;
    dp.serve();
    distribute(&domain, &admin, object, vec![dp.id]).await;
    let content_id = content_id(&domain, object).await;
    let mut kills = 0;
    let observations = watch_until_success(
        &domain, &admin, object, &mut dp, content_id, &expected, &mut kills,
    )
    .await;
    let dropped = netns.dropped();
    println!("lossy link: {dropped} packets dropped, {kills} kills, {observations} observations");
    assert!(dropped > 0, "the link dropped packets");
    let file = dp.current_file(content_id, "install.wim").expect("file");
    assert_eq!(sha256(&file), expected);
    dp.kill();
    domain.close().await.expect("close");
}

/// A tmpfs of a fixed size, unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(path: &Path, mib: u32) -> Self {
        std::fs::create_dir_all(path).expect("mount point");
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m"),
                "tmpfs",
                path.to_str().expect("utf-8"),
            ],
        );
        Self {
            path: path.to_owned(),
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .args(["-l", self.path.to_str().unwrap_or_default()])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dp_whose_disk_fills_reports_it_and_keeps_its_version() {
    let site = Site::start(Backend::Sqlite).await;
    let domain = site.domain().await;
    let admin = admin(&domain).await;
    let image = os_image(&site, &domain, &admin, "Large", 10).await;
    let object = ContentObject::new(ObjectType::OsImage, image);
    let first = domain.catalog().get(image).await.expect("image").sha256;
    let mut dp = enroll(
        &site,
        &domain,
        &admin,
        "Small disk",
        DpSettings::default(),
        None,
    )
    .await;
    // Room for one version, not for two side by side.
    let disk = SmallDisk::mount(&dp.dir.join("content"), 16);
    dp.serve();
    distribute(&domain, &admin, object, vec![dp.id]).await;
    wait_state(&domain, &admin, object, dp.id, DistState::Success, Some(1)).await;
    let content_id = content_id(&domain, object).await;

    // A new version of the same size (every blob changed): it cannot be assembled beside the
    // first.
    let wim = capture(&site, "Large-2", 10, 7);
    domain::testing::replace_image_file(&domain, image, &wim)
        .await
        .expect("replace");
    let job = domain
        .for_actor(&admin)
        .distribution()
        .update(object)
        .await
        .expect("update");
    let job = domain::testing::wait_until_final(&domain, job, SETTLE).await;
    assert_eq!(
        job.state,
        domain::jobs::JobState::Succeeded,
        "{:?}",
        job.error
    );
    let failed = wait_state(&domain, &admin, object, dp.id, DistState::Failed, None).await;
    let detail = failed.detail.clone().unwrap_or_default();
    assert!(
        detail.contains("ran out of disk space") && detail.contains("the version in use is intact"),
        "{failed:?}"
    );
    assert_eq!(failed.installed_version, Some(1), "{failed:?}");
    let file = dp
        .current_file(content_id, "install.wim")
        .expect("version 1");
    assert_eq!(sha256(&file), first, "version 1 is untouched");
    // What the attempt wrote is gone again.
    let staged: Vec<_> = std::fs::read_dir(dp.dir.join("content").join(content_id.to_string()))
        .expect("content folder")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".staging-"))
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
    dp.kill();
    drop(disk);
    domain.close().await.expect("close");
}
