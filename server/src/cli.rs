//! The `wimdeck` command line. Global options (`--data-dir`, `--database-url`, `--config`) are
//! accepted before or after the verb.

use std::{
    io::{IsTerminal, Read},
    net::SocketAddr,
    path::PathBuf,
};

use clap::{Parser, Subcommand};
use domain::{
    Config, Domain, Role,
    config::{CONFIG_FILE_ENV, ConfigOverrides},
};

use crate::Error;

#[derive(Debug, Parser)]
#[command(
    name = "wimdeck",
    version,
    about = "Web console for Windows deployment images"
)]
pub struct Cli {
    /// Data directory (database, content). Default: ./wimdeck-data
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: postgres://… or sqlite://…; default: SQLite in the data directory.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE", env = CONFIG_FILE_ENV)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web console.
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:8080.
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage local users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Work with WIM files directly (no server, no database).
    Wim {
        #[command(subcommand)]
        command: WimCommand,
    },
    /// The image catalog, through the database (a running server sees the changes at once).
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Driver packages, read directly (no server, no database).
    Driver {
        #[command(subcommand)]
        command: DriverCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Demo data: sample WIMs and catalog entries, for trying Wimdeck out.
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
    /// Run a distribution point (`--data-dir` is the DP's own folder).
    Dp {
        #[command(subcommand)]
        command: DpCommand,
    },
}

/// A distribution point on this machine.
#[derive(Debug, Subcommand)]
pub enum DpCommand {
    /// Enroll this machine as the DP made in the console, with the one-time token shown there.
    Enroll {
        /// The site, e.g. https://deploy.example.org or http://10.0.0.5:8080.
        #[arg(long, value_name = "URL")]
        site: String,
        #[arg(long, value_name = "TOKEN")]
        token: String,
        /// Over https://: pin the certificate the site shows now (`pin`), or trust the
        /// system's store (`system`).
        #[arg(long, value_parser = ["pin", "system"], default_value = "pin")]
        tls: String,
    },
    /// Import a prestaged content file (made in the console) into this DP: it then installs
    /// those versions without fetching them. Safe beside a running `dp serve`.
    ImportPrestaged {
        /// The .wdprestage file.
        file: std::path::PathBuf,
    },
    /// Serve as a DP: fetch and verify the content the site assigns, until stopped.
    Serve {
        /// Overrides the site enrolled with (the same site under another address).
        #[arg(long, value_name = "URL")]
        site: Option<String>,
    },
}

/// The image catalog.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List boot images or OS images.
    List {
        #[arg(long, value_parser = ["boot", "os"], default_value = "boot")]
        kind: String,
        /// One JSON object per image.
        #[arg(long)]
        json: bool,
    },
    /// Import a WIM as a boot image or OS image, running the import job here and waiting for it.
    Import {
        #[arg(long, value_parser = ["boot", "os"])]
        kind: String,
        /// A path under images.source_roots, or \\server\share\… under images.shares.
        source: String,
        /// Boot images: the index to use (default: the boot index). OS images: extract this
        /// index into a new WIM next to the source (default: import every index in place).
        #[arg(long)]
        index: Option<u32>,
        /// Default: the image's name in the WIM.
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "")]
        version: String,
        #[arg(long, default_value = "")]
        comment: String,
    },
}

/// Driver packages.
#[derive(Debug, Subcommand)]
pub enum DriverCommand {
    /// Print what the catalog would store for an INF, or for every INF under a folder; exits
    /// with status 1 if any INF cannot be read or needs a file that is missing.
    Inspect {
        path: PathBuf,
        /// One JSON array of reports.
        #[arg(long)]
        json: bool,
    },
}

/// The audit log.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of the whole audit log; exits with status 1 at the first entry
    /// that was edited, removed or reordered.
    Verify,
}

/// Demo data.
#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Write sample WIMs into DIR (good ones, and broken ones to try the errors with) and, if
    /// the catalog is empty and DIR is an image source root, import the good ones.
    Seed { dir: PathBuf },
}

/// Work with WIM files directly (no server, no database).
#[derive(Debug, Subcommand)]
pub enum WimCommand {
    /// Print a WIM file's header and every image's metadata (and the file's SHA-256).
    Inspect {
        file: PathBuf,
        /// Print the stable JSON shape documented in the README.
        #[arg(long)]
        json: bool,
    },
    /// Rewrite every image of SOURCE into a new WIM at OUTPUT (recompressed, unused data
    /// dropped, verified before it appears under its name; OUTPUT must not exist).
    Export {
        source: PathBuf,
        output: PathBuf,
        #[arg(long, value_parser = ["lzx", "xpress", "none"], default_value = "lzx")]
        compression: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. Asks for the password on a terminal, or reads it from standard input.
    Add {
        /// The user name (letters, digits, '.', '_', '-', '@').
        name: String,
        /// A role, in kebab-case (repeat for several), e.g. full-administrator.
        #[arg(long = "role", required = true, value_parser = parse_role)]
        roles: Vec<Role>,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (file + environment + flags) as TOML.
    Print,
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse::<Role>().map_err(|e| e.to_string())
}

impl Cli {
    /// Loads the configuration this invocation runs with.
    pub fn load_config(&self) -> Result<Config, Error> {
        let listen = match &self.command {
            Command::Serve { listen } => *listen,
            _ => None,
        };
        let overrides = ConfigOverrides {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            listen,
        };
        Ok(Config::load(self.config.as_deref(), &overrides)?)
    }

    /// Runs the verb.
    pub async fn run(self, config: Config) -> Result<(), Error> {
        match self.command {
            Command::Serve { .. } => crate::serve(Domain::open(&config).await?).await,
            Command::Migrate => {
                let applied = Domain::migrate(&config).await?;
                println!("{applied} migration(s) applied");
                Ok(())
            }
            Command::User {
                command:
                    UserCommand::Add {
                        name,
                        roles,
                        password_stdin,
                    },
            } => {
                let password = read_password(password_stdin)?;
                let domain = Domain::open(&config).await?;
                domain
                    .accounts()
                    .create_user(&name, &password, &roles)
                    .await?;
                let roles: Vec<_> = roles.iter().copied().map(Role::slug).collect();
                println!("user '{name}' created with role(s) {}", roles.join(", "));
                domain.close().await?;
                Ok(())
            }
            Command::Config {
                command: ConfigCommand::Print,
            } => {
                print!("{}", config.to_toml_redacted()?);
                Ok(())
            }
            Command::Image { command } => image_command(command, &config).await,
            Command::Driver {
                command: DriverCommand::Inspect { path, json },
            } => driver_inspect(&path, json),
            Command::Demo {
                command: DemoCommand::Seed { dir },
            } => demo_seed(&dir, &config).await,
            Command::Dp { command } => dp_command(command, &config).await,
            Command::Audit {
                command: AuditCommand::Verify,
            } => {
                let domain = Domain::open(&config).await?;
                let found = domain.audit().verify().await?;
                use domain::audit::AnchorCheck;
                let anchor = match &found.anchor {
                    AnchorCheck::Matches(head) => {
                        format!("up to the anchored entry {}", head.id)
                    }
                    AnchorCheck::Missing => {
                        "no anchor file yet, so removal of the newest entries cannot be seen".into()
                    }
                    AnchorCheck::Unreadable(why) => format!("the anchor file is unreadable: {why}"),
                    AnchorCheck::Mismatch { .. } => String::new(),
                };
                match found.broken_at {
                    None => {
                        println!(
                            "audit log: {} entries, the hash chain is intact ({anchor})",
                            found.entries
                        );
                        Ok(())
                    }
                    Some((id, why)) => Err(Error::Usage(format!(
                        "audit log: entry {id} is not what was recorded: {why}"
                    ))),
                }
            }
            Command::Wim {
                command:
                    WimCommand::Export {
                        source,
                        output,
                        compression,
                    },
            } => {
                use domain::wim::{Compression, Monitor, WimBackend, Wimlib};
                let compression: Compression = compression.parse()?;
                let shown = output.clone();
                domain::wim::blocking(move || {
                    Wimlib.export(&source, &output, compression, &Monitor::unwatched())
                })
                .await
                .map_err(domain::Error::from)?;
                println!("wrote and verified {}", shown.display());
                Ok(())
            }
            Command::Wim {
                command: WimCommand::Inspect { file, json },
            } => {
                let backend = std::sync::Arc::new(domain::wim::Wimlib);
                let inspection = domain::wim::inspect(backend, &file)
                    .await
                    .map_err(domain::Error::from)?;
                if json {
                    let text = serde_json::to_string_pretty(&inspection)
                        .map_err(|e| Error::Usage(format!("cannot print JSON: {e}")))?;
                    println!("{text}");
                } else {
                    print!("{}", describe(&inspection));
                }
                Ok(())
            }
        }
    }
}

/// `wimdeck driver inspect`
fn driver_inspect(path: &std::path::Path, json: bool) -> Result<(), Error> {
    use domain::drivers::package::{self, Limits, PackageFormat};
    // An archive is unpacked (with the import's defences) into a scratch folder first.
    let archive = path.is_file()
        && matches!(
            PackageFormat::detect(path),
            Ok(PackageFormat::Zip | PackageFormat::Cab)
        );
    let scratch = std::env::temp_dir().join(format!(
        "wimdeck-inspect-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let reports = if archive {
        let unpacked = package::unpack(path, &scratch, &Limits::default())
            .map_err(|e| Error::Usage(format!("{}: {e}", path.display())));
        let reports = unpacked.and_then(|_| Ok(domain::drivers::inf::inspect_path(&scratch)?));
        let _ = std::fs::remove_dir_all(&scratch);
        let mut reports = reports?;
        for r in &mut reports {
            if let Ok(inner) = r.inf.strip_prefix(&scratch) {
                r.inf = path.join(inner);
            }
        }
        reports
    } else {
        domain::drivers::inf::inspect_path(path)?
    };
    if reports.is_empty() {
        return Err(Error::Usage(format!(
            "no INF file under {}",
            path.display()
        )));
    }
    if json {
        let text = serde_json::to_string_pretty(&reports)
            .map_err(|e| Error::Usage(format!("cannot print JSON: {e}")))?;
        println!("{text}");
    } else {
        for report in &reports {
            print!("{}", describe_inf(report));
        }
    }
    let failed = reports
        .iter()
        .filter(|r| r.error.is_some() || !r.missing_files.is_empty())
        .count();
    if failed > 0 {
        return Err(Error::Usage(format!(
            "{failed} of {} INF files cannot be used as they are",
            reports.len()
        )));
    }
    Ok(())
}

fn describe_inf(report: &domain::drivers::inf::InfReport) -> String {
    use std::fmt::Write;
    let mut out = format!("{}\n", report.inf.display());
    if let Some(error) = &report.error {
        let _ = writeln!(out, "  error: {error}");
    }
    if let Some(d) = &report.driver {
        let archs: Vec<&str> = d.architectures.iter().map(|a| a.as_str()).collect();
        let _ = writeln!(
            out,
            "  class:         {} {}",
            d.class,
            d.class_guid.as_deref().unwrap_or("")
        );
        let _ = writeln!(out, "  provider:      {}", d.provider);
        let _ = writeln!(
            out,
            "  version:       {} ({})",
            d.version.as_deref().unwrap_or("-"),
            d.date.as_deref().unwrap_or("no date")
        );
        let _ = writeln!(out, "  architectures: {}", archs.join(", "));
        for (arch, file) in &d.catalog_files {
            let _ = writeln!(
                out,
                "  catalog:       {file} ({})",
                arch.map_or("all", |a| a.as_str())
            );
        }
        for m in &d.models {
            let _ = writeln!(
                out,
                "  device:        {} [{}] {}",
                m.hardware_id,
                m.architecture.as_str(),
                m.description
            );
        }
        for f in &d.files {
            let found = if f.by_name {
                " (anywhere in the package)"
            } else {
                ""
            };
            let _ = writeln!(out, "  file:          {}{found}", f.path.display());
        }
        if d.primitive {
            let _ = writeln!(
                out,
                "  primitive:     installs by [DefaultInstall], on no device"
            );
        }
        for w in &d.warnings {
            let _ = writeln!(out, "  warning:       line {}: {}", w.line, w.message);
        }
    }
    for missing in &report.missing_files {
        let _ = writeln!(out, "  missing:       {}", missing.display());
    }
    match &report.signature {
        Some(domain::drivers::signing::Signature::Signed { signer, catalog }) => {
            let _ = writeln!(out, "  signed:        by {signer} ({catalog})");
        }
        Some(domain::drivers::signing::Signature::Unsigned { reason }) => {
            let _ = writeln!(out, "  unsigned:      {reason}");
        }
        None => {}
    }
    if let Some(hash) = &report.content_hash {
        let _ = writeln!(out, "  content hash:  {hash}");
    }
    out
}

/// `wimdeck image …`
async fn image_command(command: ImageCommand, config: &Config) -> Result<(), Error> {
    use domain::catalog::{ImageKind, kinds::ImportRequest};
    let domain = Domain::open(config).await?;
    match command {
        ImageCommand::List { kind, json } => {
            let images = domain.catalog().list(ImageKind::parse(&kind)?).await?;
            for image in &images {
                if json {
                    let line = serde_json::json!({
                        "id": image.id,
                        "name": image.name,
                        "version": image.version,
                        "architecture": image.architecture,
                        "os_version": image.os_version,
                        "winpe_release": image.winpe_release,
                        "language": image.language,
                        "image_count": image.image_count,
                        "decompressed_bytes": image.decompressed_bytes,
                        "file_bytes": image.file_bytes,
                        "file_path": image.file_path,
                        "sha256": image.sha256,
                        "state": image.state.as_str(),
                    });
                    println!("{line}");
                } else {
                    println!(
                        "{:>4}  {:<40} {:<8} {:<16} {:>12} KB  {}",
                        image.id,
                        image.name,
                        image.architecture.as_deref().unwrap_or("-"),
                        image.os_version.as_deref().unwrap_or("-"),
                        image.decompressed_bytes.div_ceil(1024),
                        image.state.as_str()
                    );
                }
            }
            if !json && images.is_empty() {
                println!("no {kind} images");
            }
        }
        ImageCommand::Import {
            kind,
            source,
            index,
            name,
            version,
            comment,
        } => {
            let request = ImportRequest {
                kind: ImageKind::parse(&kind)?,
                source,
                index,
                name,
                version,
                comment,
                architecture: None,
                language: None,
            };
            let url = run_import(&domain, request).await?;
            println!("imported: {url}");
        }
    }
    domain.close().await?;
    Ok(())
}

/// Queues an import and waits for it; returns the new image's page. A server running on the
/// data directory runs the job; with none, this process runs that one job and nothing else
/// (holding the data directory's lock meanwhile, so no server starts beside it).
async fn run_import(
    domain: &Domain,
    request: domain::catalog::kinds::ImportRequest,
) -> Result<String, Error> {
    use domain::{
        datadir::{Acquired, DataDirLock},
        jobs::{JobState, Runner, RunnerOptions},
    };
    let job_id = domain.catalog().queue_import(request, None).await?;
    let lock = DataDirLock::try_acquire(&domain.config().data_dir, "wimdeck image import")?;
    let runner = match &lock {
        Acquired::Held(_) => Some(Runner::start(
            domain,
            RunnerOptions {
                only_job: Some(job_id),
                ..RunnerOptions::from_config(&domain.config().jobs)
            },
        )),
        Acquired::Busy(holder) => {
            println!("job {job_id} queued; the server running here ({holder}) runs it");
            None
        }
    };
    let job = loop {
        let job = domain.jobs().get(job_id).await?;
        if job.state.is_final() {
            break job;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    if let Some(runner) = runner {
        runner.shutdown().await;
    }
    drop(lock);
    match job.state {
        JobState::Succeeded => Ok(job
            .result
            .as_ref()
            .and_then(|r| r.get("url"))
            .and_then(|u| u.as_str())
            .unwrap_or_default()
            .to_owned()),
        _ => Err(Error::Usage(format!(
            "job {job_id} {}: {}",
            job.state.label().to_lowercase(),
            job.error.unwrap_or_default()
        ))),
    }
}

/// `wimdeck demo seed DIR`
async fn demo_seed(dir: &std::path::Path, config: &Config) -> Result<(), Error> {
    use domain::catalog::{ImageKind, kinds::ImportRequest};
    if dir.join("install.wim").is_file() {
        println!("sample WIMs already in {}", dir.display());
    } else {
        domain::fixtures::sample_library(dir)?;
        println!("wrote sample WIMs to {}", dir.display());
    }
    let drivers = dir.join("drivers");
    if !drivers.is_dir() {
        std::fs::create_dir_all(&drivers)?;
        domain::fixtures::drivers::demo_packages(&drivers)?;
        println!("wrote sample driver packages to {}", drivers.display());
    }
    let domain = Domain::open(config).await?;
    let empty = domain.catalog().list(ImageKind::Boot).await?.is_empty()
        && domain.catalog().list(ImageKind::Os).await?.is_empty();
    if empty {
        let dir = dir.canonicalize()?;
        let imports = [
            (ImageKind::Boot, "boot_amd64.wim", "Boot image (x64)"),
            (ImageKind::Boot, "boot_x86.wim", "Boot image (x86)"),
            (ImageKind::Os, "install.wim", "Windows 11 24H2"),
            // Windows installation media's boot.wim: Setup and the capture wizard, the base
            // of capture and discover images.
            (ImageKind::Boot, "boot_setup.wim", "Windows Setup (x64)"),
        ];
        for (kind, file, name) in imports {
            let request = ImportRequest {
                kind,
                source: dir.join(file).display().to_string(),
                index: None,
                name: Some(name.to_owned()),
                version: "demo".to_owned(),
                comment: "Demo data generated by Wimdeck".to_owned(),
                architecture: None,
                language: None,
            };
            let url = run_import(&domain, request).await?;
            println!("imported {name}: {url}");
        }
    }
    domain.close().await?;
    Ok(())
}

fn read_password(from_stdin: bool) -> Result<String, Error> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "no terminal to ask for the password on; pass it with --password-stdin".into(),
        ));
    }
    let first = rpassword::prompt_password("Password: ")?;
    let second = rpassword::prompt_password("Password again: ")?;
    if first != second {
        return Err(Error::Usage("the two passwords differ".into()));
    }
    Ok(first)
}

/// The human-readable form of `wim inspect`.
fn describe(inspection: &domain::wim::WimInspection) -> String {
    use std::fmt::Write;
    let f = &inspection.file;
    let mut out = String::new();
    let _ = writeln!(out, "File:            {}", f.path);
    let _ = writeln!(out, "Size:            {} bytes", f.size_bytes);
    let _ = writeln!(
        out,
        "SHA-256:         {}",
        f.sha256.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, "GUID:            {}", f.guid);
    let _ = writeln!(out, "WIM version:     {:#x}", f.wim_version);
    let _ = writeln!(
        out,
        "Compression:     {} ({} byte chunks)",
        f.compression.to_uppercase(),
        f.chunk_size
    );
    let _ = writeln!(
        out,
        "Part:            {} of {}",
        f.part_number, f.total_parts
    );
    let _ = writeln!(out, "Boot index:      {}", f.boot_index);
    let _ = writeln!(
        out,
        "Integrity table: {}",
        if f.has_integrity_table { "yes" } else { "no" }
    );
    let _ = writeln!(out, "Images:          {}", f.image_count);
    for image in &inspection.images {
        let _ = writeln!(out, "\nIndex {}: {}", image.index, image.name);
        let windows_pe = image.windows_pe.as_ref().map(|pe| {
            let support = match pe.support {
                domain::wim::WinPeSupport::Customizable => "supported, customizable",
                domain::wim::WinPeSupport::SupportedNotCustomizable => {
                    "supported, not customizable"
                }
                domain::wim::WinPeSupport::Unsupported => "not supported",
            };
            format!("{} ({support})", pe.release)
        });
        let rows = [
            ("Description:", image.description.clone()),
            ("Display name:", image.display_name.clone()),
            (
                "Architecture:",
                image.architecture.map(|a| a.as_str().to_owned()),
            ),
            ("Version:", image.version.map(|v| v.to_string())),
            ("Edition ID:", image.edition_id.clone()),
            ("Flags:", image.flags.clone()),
            ("Installation type:", image.installation_type.clone()),
            ("Product name:", image.product_name.clone()),
            ("Languages:", Some(image.languages.join(", "))),
            ("Default language:", image.default_language.clone()),
            ("Windows PE:", windows_pe),
            ("Directories:", Some(image.directory_count.to_string())),
            ("Files:", Some(image.file_count.to_string())),
            (
                "Size:",
                Some(format!(
                    "{} bytes ({} KB)",
                    image.total_bytes,
                    image.total_bytes.div_ceil(1024)
                )),
            ),
        ];
        for (label, value) in rows {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                let _ = writeln!(out, "  {label:<19}{value}");
            }
        }
    }
    out
}

/// `wimdeck dp …`: the DP's folder is `--data-dir`.
async fn dp_command(command: DpCommand, config: &Config) -> Result<(), Error> {
    let data_dir = &config.data_dir;
    match command {
        DpCommand::Enroll { site, token, tls } => {
            let trust = match tls.as_str() {
                "system" => crate::dp::client::Trust::System,
                _ => crate::dp::client::Trust::FirstUse,
            };
            let enrolled = crate::dp::enroll(&site, &token, data_dir, trust).await?;
            println!(
                "enrolled as the distribution point \"{}\" of {}; its credential is in {}",
                enrolled.dp_name,
                enrolled.site,
                domain::distribution::agent::Layout::new(data_dir)
                    .enrollment_path()
                    .display()
            );
            if let Some(pin) = &enrolled.pinned_certificate_sha256 {
                println!("pinned the site's certificate, SHA-256 {pin}");
            }
            Ok(())
        }
        DpCommand::ImportPrestaged { file } => {
            let layout = domain::distribution::agent::Layout::new(data_dir);
            let imported = tokio::task::spawn_blocking(move || {
                domain::distribution::agent::prestaged::import(&layout, &file)
            })
            .await
            .map_err(|e| Error::Usage(format!("the import stopped: {e}")))??;
            for version in &imported.versions {
                // The name comes from the file: escaped, so it cannot drive the terminal.
                println!(
                    "\"{}\" version {} ({} bytes)",
                    version.name.escape_debug(),
                    version.number,
                    version.total_bytes
                );
            }
            println!(
                "imported {} chunks ({} bytes); {} were here already",
                imported.chunks, imported.bytes, imported.present
            );
            Ok(())
        }
        DpCommand::Serve { site } => {
            let _lock =
                match domain::datadir::DataDirLock::try_acquire(data_dir, "wimdeck dp serve")? {
                    domain::datadir::Acquired::Held(lock) => lock,
                    domain::datadir::Acquired::Busy(holder) => {
                        return Err(Error::Usage(format!(
                            "{} is in use by another Wimdeck process ({holder})",
                            data_dir.display()
                        )));
                    }
                };
            if let Some(site) = site {
                let layout = domain::distribution::agent::Layout::new(data_dir);
                let mut enrollment = layout.read_enrollment()?;
                enrollment.site = site.trim_end_matches('/').to_owned();
                layout.write_enrollment(&enrollment)?;
            }
            let cancel = tokio_util::sync::CancellationToken::new();
            let stop = cancel.clone();
            tokio::spawn(async move {
                crate::shutdown_signal().await;
                stop.cancel();
            });
            crate::dp::serve(data_dir, cancel).await
        }
    }
}
