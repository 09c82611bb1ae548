//! The `wimdeck` binary, run as a user would.

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Output, Stdio},
};

use domain::testing::{BACKENDS, Backend, TestDb};

fn wimdeck(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wimdeck"))
        .args(args)
        .env_remove("WIMDECK_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wimdeck");
    if let Some(text) = stdin {
        // A child that refuses its arguments exits without reading: a broken pipe is fine.
        match child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
        {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("write stdin: {e}"),
            _ => {}
        }
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn user_add_accepts_global_flags_on_either_side_of_the_verb() {
    for backend in BACKENDS {
        let db = TestDb::create(backend).await;
        let data_dir = db.data_dir.to_str().expect("utf-8").to_owned();
        let pw = format!("{}\n", crate::PASSWORD);

        let out = wimdeck(
            &[
                "--database-url",
                &db.url,
                "user",
                "add",
                "Ops",
                "--role",
                "content-operator",
                "--role",
                "auditor",
                "--password-stdin",
                "--data-dir",
                &data_dir,
            ],
            Some(&pw),
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("content-operator"));

        let out = wimdeck(
            &[
                "user",
                "add",
                "ops",
                "--role",
                "auditor",
                "--password-stdin",
                "--database-url",
                &db.url,
            ],
            Some(&pw),
        );
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("already exists"),
            "{}",
            text(&out.stderr)
        );

        let out = wimdeck(
            &[
                "user",
                "add",
                "x",
                "--role",
                "admin",
                "--password-stdin",
                "--database-url",
                &db.url,
            ],
            Some(&pw),
        );
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("full-administrator"),
            "lists the valid roles: {}",
            text(&out.stderr)
        );

        let out = wimdeck(
            &[
                "user",
                "add",
                "y",
                "--role",
                "auditor",
                "--password-stdin",
                "--database-url",
                &db.url,
            ],
            Some("short\n"),
        );
        assert!(!out.status.success());
        assert!(
            text(&out.stderr).contains("at least 12"),
            "{}",
            text(&out.stderr)
        );

        // Without a terminal and without --password-stdin there is no way to ask.
        let out = wimdeck(
            &[
                "user",
                "add",
                "z",
                "--role",
                "auditor",
                "--database-url",
                &db.url,
            ],
            None,
        );
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("--password-stdin"));

        let domain = domain::Domain::open(&db.config()).await.expect("open");
        assert_eq!(domain.accounts().count_users().await.expect("count"), 1);
    }
}

#[tokio::test]
async fn migrate_applies_then_finds_nothing_to_do() {
    for backend in BACKENDS {
        let db = TestDb::create(backend).await;
        let out = wimdeck(&["migrate", "--database-url", &db.url], None);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(!text(&out.stdout).starts_with("0 "));
        let out = wimdeck(&["migrate", "--database-url", &db.url], None);
        assert_eq!(text(&out.stdout).trim(), "0 migration(s) applied");
    }
}

#[test]
fn config_print_merges_file_environment_and_flags() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("wimdeck.toml");
    std::fs::write(
        &file,
        "listen = \"0.0.0.0:9000\"\nlog = \"debug\"\n[session]\nidle_timeout_minutes = 10\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_wimdeck"))
        .args(["config", "print", "--config"])
        .arg(&file)
        .args(["--database-url", "postgres://u:secret@db/wimdeck"])
        .env("WIMDECK_LOG", "warn")
        .env("WIMDECK_SESSION__ABSOLUTE_TIMEOUT_HOURS", "4")
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    for expected in [
        "listen = \"0.0.0.0:9000\"",
        "log = \"warn\"",
        "idle_timeout_minutes = 10",
        "absolute_timeout_hours = 4",
        "postgres://u:***@db/wimdeck",
    ] {
        assert!(
            printed.contains(expected),
            "missing {expected} in:\n{printed}"
        );
    }
    assert!(!printed.contains("secret"));
}

#[test]
fn unknown_configuration_keys_are_rejected_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("wimdeck.toml");
    std::fs::write(&file, "[sesion]\nidle_timeout_minutes = 10\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_wimdeck"))
        .args(["config", "print", "--config"])
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("sesion") && err.contains("wimdeck.toml"),
        "{err}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_wimdeck"))
        .args(["config", "print"])
        .env("WIMDECK_LISTN", "x")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("listn"), "{}", text(&out.stderr));
}

#[tokio::test]
async fn serve_prints_a_setup_link_when_no_user_exists() {
    let db = TestDb::create(Backend::Sqlite).await;
    let mut child = serve(&db);
    let stdout = child.stdout.take().expect("stdout");
    let link = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("/setup?token="));
    child.kill().expect("kill");
    let _ = child.wait();
    let link = link.expect("a setup link");
    assert!(link.trim().starts_with("http://127.0.0.1:"), "{link}");
}

/// `wimdeck serve` on the test's database and data directory, its standard output piped.
fn serve(db: &TestDb) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_wimdeck"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
            "--data-dir",
            db.data_dir.to_str().expect("utf-8"),
        ])
        .env("WIMDECK_SITE_ROOT", db.data_dir.as_os_str())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// One server per data directory: a second one refuses to start and names the first; once
/// the first is killed (even with SIGKILL) the lock is free again.
#[tokio::test]
async fn a_second_server_on_a_data_directory_refuses_to_start() {
    let db = TestDb::create(Backend::Sqlite).await;
    let mut first = serve(&db);
    let stdout = first.stdout.take().expect("stdout");
    // It holds the lock once it prints the setup link.
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("/setup?token="));
    assert!(ready, "the first server did not start");
    let second = serve(&db).wait_with_output().expect("second");
    assert_eq!(second.status.code(), Some(1));
    let message = text(&second.stderr);
    assert!(
        message.contains("one server runs per data directory")
            && message.contains(&format!("pid {}", first.id())),
        "{message}"
    );
    // SIGKILL: the kernel releases the lock with the process.
    first.kill().expect("kill");
    let _ = first.wait();
    let mut third = serve(&db);
    let stdout = third.stdout.take().expect("stdout");
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("/setup?token="));
    third.kill().expect("kill");
    let _ = third.wait();
    assert!(ready, "the lock outlived a killed server");
}

#[test]
fn wim_inspect_prints_json_and_text_and_refuses_other_files() {
    use domain::fixtures::{Arch, WinPeRelease, WindowsTree, capture};
    let dir = tempfile::tempdir().expect("tempdir");
    let tree = dir.path().join("tree");
    WindowsTree::winpe(Arch::X86, WinPeRelease::V10)
        .write(&tree)
        .expect("tree");
    let wim = dir.path().join("boot.wim");
    capture(&tree, "Microsoft Windows PE (x86)", &wim, true).expect("capture");
    let wim_path = wim.to_str().expect("utf-8");

    let out = wimdeck(&["wim", "inspect", wim_path, "--json"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json["file"]["boot_index"], 1);
    assert_eq!(json["file"]["compression"], "lzx");
    assert_eq!(json["images"][0]["architecture"], "x86");
    assert_eq!(json["images"][0]["version"]["build"], 26100);
    assert_eq!(json["images"][0]["windows_pe"]["release"], "10");
    assert_eq!(json["images"][0]["windows_pe"]["support"], "customizable");

    let out = wimdeck(&["wim", "inspect", wim_path], None);
    let printed = text(&out.stdout);
    for expected in [
        "Index 1: Microsoft Windows PE (x86)",
        "Architecture:      x86",
        "Windows PE:        10 (supported, customizable)",
        "Boot index:      1",
    ] {
        assert!(
            printed.contains(expected),
            "missing {expected:?} in\n{printed}"
        );
    }

    let other = dir.path().join("notes.txt");
    std::fs::write(&other, "hello").expect("write");
    let out = wimdeck(&["wim", "inspect", other.to_str().expect("utf-8")], None);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("is not a WIM file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn driver_inspect_reads_archives_and_says_what_the_catalog_would_store() {
    use domain::fixtures::{Arch, drivers};
    let dir = tempfile::tempdir().expect("tempdir");
    let package = dir.path().join("lan");
    drivers::DriverPackage::network("e1d", &[Arch::Amd64])
        .write(&package)
        .expect("package");
    let cab = dir.path().join("lan.cab");
    drivers::cab_folder(&package, &cab).expect("cab");
    let out = wimdeck(
        &["driver", "inspect", cab.to_str().expect("utf-8"), "--json"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json[0]["inf"], cab.join("e1d.inf").display().to_string());
    assert_eq!(json[0]["signature"]["status"], "signed");
    assert_eq!(json[0]["signature"]["signer"], "Contoso Networks");
    assert_eq!(json[0]["content_hash"].as_str().map(str::len), Some(64));

    let hostile = drivers::hostile_archives(&dir.path().join("hostile")).expect("hostile");
    let out = wimdeck(
        &[
            "driver",
            "inspect",
            hostile.zip_slip.to_str().expect("utf-8"),
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("would land outside the package"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn driver_inspect_reports_every_inf_of_a_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("net");
    std::fs::create_dir_all(good.join("x64")).expect("dir");
    // UTF-16LE with a BOM, as Windows writes INFs.
    let inf = "[Version]\r\nSignature=\"$Windows NT$\"\r\nClass=Net\r\nProvider=%P%\r\n\
               DriverVer=01/02/2024,1.2.3.4\r\n[Manufacturer]\r\n%P%=M,NTamd64\r\n\
               [M.NTamd64]\r\n%D%=Install,PCI\\VEN_8086&DEV_100E\r\n\
               [SourceDisksNames]\r\n1=%P%,,,\r\n[SourceDisksFiles]\r\nnet.sys=1,x64\r\n\
               [Strings]\r\nP=\"Contoso\"\r\nD=\"Contoso NIC\"\r\n";
    let bytes: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(inf.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    std::fs::write(good.join("net.inf"), bytes).expect("inf");
    std::fs::write(good.join("x64/net.sys"), b"MZ").expect("sys");
    let path = dir.path().to_str().expect("utf-8");

    let out = wimdeck(&["driver", "inspect", path, "--json"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(json[0]["driver"]["provider"], "Contoso");
    assert_eq!(json[0]["driver"]["date"], "2024-01-02");
    assert_eq!(json[0]["driver"]["architectures"][0], "amd64");
    assert_eq!(
        json[0]["driver"]["models"][0]["hardware_id"],
        "PCI\\VEN_8086&DEV_100E"
    );
    assert_eq!(json[0]["driver"]["files"][0]["path"], "x64/net.sys");

    // A broken INF beside it: reported with its line, and the exit status says so.
    std::fs::write(
        dir.path().join("bad.inf"),
        "[Version]\nSignature=\"$Windows NT$\"\nClass=Net\nDriverVer=99/99/2024\n",
    )
    .expect("inf");
    let out = wimdeck(&["driver", "inspect", path], None);
    assert!(!out.status.success());
    let printed = text(&out.stdout);
    assert!(
        printed.contains("error: line 4: DriverVer date"),
        "{printed}"
    );
    assert!(
        printed.contains("device:        PCI\\VEN_8086&DEV_100E [amd64] Contoso NIC"),
        "{printed}"
    );
    assert!(
        text(&out.stderr).contains("1 of 2 INF files"),
        "{}",
        text(&out.stderr)
    );
}

/// A kill -9 in the middle of an export leaves the source byte-identical and nothing under the
/// output's name; the temporary file it leaves in the image store goes at the next start.
#[tokio::test]
async fn kill_9_during_an_export_leaves_the_original_and_no_output() {
    use domain::fixtures::{self, Arch, WindowsTree};
    use std::time::{Duration, Instant};

    let db = TestDb::create(Backend::Sqlite).await;
    let mut tree = WindowsTree::windows11(Arch::Amd64, "Professional", "Windows 11 Pro");
    for n in 0..8 {
        tree.files
            .push((format!("Windows/System32/big{n}.dll"), 6 * 1024 * 1024));
    }
    let root = db.data_dir.join("tree");
    tree.write(&root).expect("tree");
    let source = db.data_dir.join("install.wim");
    fixtures::capture(&root, "Windows 11 Pro", &source, false).expect("capture");
    let before = std::fs::read(&source).expect("read");
    let store = db.data_dir.join("images").join("os");
    std::fs::create_dir_all(&store).expect("store");
    let output = store.join("optimized.wim");

    // XPRESS forces every chunk to be decompressed and compressed again: seconds of work.
    let mut child = Command::new(env!("CARGO_BIN_EXE_wimdeck"))
        .args(["wim", "export", "--compression", "xpress"])
        .arg(&source)
        .arg(&output)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let temp = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().contains(".wimdeck-tmp-"))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let growing = temp(&store)
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.len() > 1024 * 1024);
        if growing {
            break;
        }
        assert!(
            child.try_wait().expect("poll").is_none(),
            "the export ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no temporary output appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");

    assert_eq!(
        std::fs::read(&source).expect("read"),
        before,
        "source unchanged"
    );
    assert!(!output.exists(), "nothing under the final name");
    assert!(temp(&store).is_some(), "the killed writer's temporary file");

    let domain = domain::Domain::open(&db.config()).await.expect("open");
    let report = domain::catalog::store::sweep(&domain).await.expect("sweep");
    assert_eq!(report.temporary_files.len(), 1, "{report:?}");
    assert!(temp(&store).is_none());
}

/// `wimdeck audit verify` passes an untouched log and names the first entry edited in the
/// database or removed from it.
#[tokio::test]
async fn audit_verify_detects_an_edited_or_removed_row() {
    use sea_orm::{ConnectionTrait, Database};
    for backend in BACKENDS {
        let db = TestDb::create(backend).await;
        let domain = domain::Domain::open(&db.config()).await.expect("open");
        let admin_id = domain
            .accounts()
            .create_user("admin", crate::PASSWORD, &[domain::Role::FullAdministrator])
            .await
            .expect("admin");
        let admin = domain.accounts().actor(admin_id).await.expect("actor");
        let security = domain.for_actor(&admin).security();
        for name in ["Lab", "Production", "Branch"] {
            security.create_scope(name, "").await.expect("scope");
        }
        let verify = || {
            wimdeck(
                &[
                    "--database-url",
                    &db.url,
                    "--data-dir",
                    db.data_dir.to_str().expect("utf-8"),
                    "audit",
                    "verify",
                ],
                None,
            )
        };
        let out = verify();
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout)
                .contains("4 entries, the hash chain is intact (up to the anchored entry 4)"),
            "{}",
            text(&out.stdout)
        );

        // Removing the newest entries leaves a chain that is consistent in itself; the anchor
        // (written at every change) still names the newest one.
        let conn = Database::connect(&db.url).await.expect("connect");
        conn.execute_unprepared("DELETE FROM audit_log WHERE id >= 3")
            .await
            .expect("remove the newest");
        let out = verify();
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("entry 4 is not what was recorded")
                && text(&out.stderr).contains("newest entries were removed"),
            "{}",
            text(&out.stderr)
        );
        // A server that starts on such a log says so in the log itself.
        domain.audit().reconcile_anchor().await.expect("reconcile");
        let last = domain
            .for_actor(&admin)
            .audit()
            .search(&Default::default(), None, 1)
            .await
            .expect("search");
        assert!(last[0].detail.contains("entries were removed"), "{last:?}");
        for name in ["Lab", "Production", "Branch"] {
            security
                .create_scope(&format!("{name} 2"), "")
                .await
                .expect("scope");
        }
        let out = verify();
        assert!(out.status.success(), "{}", text(&out.stderr));
        conn.execute_unprepared("UPDATE audit_log SET username = 'someone-else' WHERE id = 2")
            .await
            .expect("tamper");
        let out = verify();
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("entry 2 is not what was recorded")
                && text(&out.stderr).contains("edited"),
            "{}",
            text(&out.stderr)
        );

        conn.execute_unprepared("DELETE FROM audit_log WHERE id = 2")
            .await
            .expect("remove");
        let out = verify();
        assert_eq!(out.status.code(), Some(1));
        assert!(
            text(&out.stderr).contains("is not what was recorded")
                && text(&out.stderr).contains("removed or reordered"),
            "{}",
            text(&out.stderr)
        );
    }
}

/// `wimdeck image import` runs its own job when no server runs on the data directory, and
/// hands it to the server when one does (never running the server's other jobs itself).
#[tokio::test]
async fn image_import_runs_alone_or_hands_its_job_to_the_server() {
    let db = TestDb::create(Backend::Sqlite).await;
    let root = db.data_dir.join("sources");
    let library = domain::fixtures::sample_library(&root).expect("samples");
    let config = db.data_dir.join("wimdeck.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\ndatabase_url = {:?}\nsite_root = {:?}\n[images]\nsource_roots = [{:?}]\n",
            db.data_dir, db.url, db.data_dir, root
        ),
    )
    .expect("config");
    let config = config.to_str().expect("utf-8").to_owned();
    let import = |name: &str| {
        wimdeck(
            &[
                "--config",
                &config,
                "image",
                "import",
                "--kind",
                "boot",
                library.boot_amd64.to_str().expect("utf-8"),
                "--name",
                name,
            ],
            None,
        )
    };
    let alone = import("Alone");
    assert!(alone.status.success(), "{}", text(&alone.stderr));
    assert!(
        text(&alone.stdout).contains("imported: /boot-images/"),
        "{}",
        text(&alone.stdout)
    );

    let mut server = Command::new(env!("CARGO_BIN_EXE_wimdeck"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config", &config])
        .env_remove("WIMDECK_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    // No user has signed in to it yet, so it prints the setup link once it holds the lock.
    let stdout = server.stdout.take().expect("stdout");
    let started = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("/setup?token=") || l.contains("listening"));
    let handed = import("Handed over");
    server.kill().expect("kill");
    let _ = server.wait();
    assert!(started);
    assert!(handed.status.success(), "{}", text(&handed.stderr));
    let out = text(&handed.stdout);
    assert!(out.contains("the server running here"), "{out}");
    assert!(out.contains("imported: /boot-images/"), "{out}");
}
