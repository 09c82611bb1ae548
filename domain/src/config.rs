//! The typed configuration: defaults, then a TOML file, then `WIMDECK_*` environment variables,
//! then command-line flags, each overriding the one before. Unknown keys are errors.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Every setting of a Wimdeck installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where Wimdeck keeps its SQLite database and the content it owns.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite://…`; unset means SQLite at `<data_dir>/wimdeck.db`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// The address the console listens on.
    pub listen: SocketAddr,
    /// The built browser bundle (`pkg/wimdeck.js`, `pkg/wimdeck_bg.wasm`, `pkg/wimdeck.css`).
    pub site_root: PathBuf,
    /// Log filter in `tracing` syntax (`info`, `wimdeck=debug,info` …); `RUST_LOG` wins if set.
    pub log: String,
    pub session: SessionConfig,
    pub http: HttpConfig,
    pub jobs: JobsConfig,
    pub images: ImagesConfig,
    pub distribution: DistributionConfig,
}

/// Browser sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionConfig {
    /// A session unused this long ends.
    pub idle_timeout_minutes: u32,
    /// A session ends this long after sign-in, however busy.
    pub absolute_timeout_hours: u32,
    /// When the cookie carries `Secure`.
    pub secure_cookie: SecureCookie,
    /// Security-sensitive changes (users, roles, assignments, API tokens) ask for the password
    /// again when it was last entered longer ago than this.
    pub reauthenticate_after_minutes: u32,
}

/// Whether session cookies are marked `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecureCookie {
    /// When the request arrived over TLS (directly, or per `X-Forwarded-Proto` from a trusted
    /// proxy).
    Auto,
    Always,
    Never,
}

/// The HTTP front.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The reverse proxies in front of the console, as addresses or CIDR blocks
    /// (`10.0.0.5`, `192.0.2.0/24`, `::1`). Only a request that arrives from one of them has
    /// its `X-Forwarded-For` and `X-Forwarded-Proto` believed; the client is the rightmost
    /// `X-Forwarded-For` entry that is not itself a trusted proxy.
    pub trusted_proxies: Vec<String>,
}

impl HttpConfig {
    /// The parsed `trusted_proxies` (checked when the configuration loads).
    pub fn trusted_proxy_nets(&self) -> Result<Vec<IpNet>> {
        self.trusted_proxies
            .iter()
            .map(|text| {
                IpNet::parse(text).ok_or_else(|| {
                    Error::Config(format!(
                        "http.trusted_proxies: '{text}' is not an address or CIDR block (for example 10.0.0.5 or 192.0.2.0/24)"
                    ))
                })
            })
            .collect()
    }
}

/// An IPv4 or IPv6 address block: an address and how many leading bits of it count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl std::fmt::Display for IpNet {
    /// `a.b.c.d/n`: the block's first address and its prefix length.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::net::IpAddr;
        let network = match self.addr {
            IpAddr::V4(v4) => {
                let keep = u32::from(self.prefix);
                let mask = if keep == 0 {
                    0
                } else {
                    u32::MAX << (32 - keep)
                };
                IpAddr::from(std::net::Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                let keep = u32::from(self.prefix);
                let mask = if keep == 0 {
                    0
                } else {
                    u128::MAX << (128 - keep)
                };
                IpAddr::from(std::net::Ipv6Addr::from(u128::from(v6) & mask))
            }
        };
        write!(f, "{network}/{}", self.prefix)
    }
}

impl IpNet {
    /// `a.b.c.d`, `a.b.c.d/n`, an IPv6 address, or one with `/n`.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, bits)) => (addr, Some(bits.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let addr: std::net::IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return None;
        }
        // `::ffff:a.b.c.d/n` is the IPv4 block a.b.c.d/(n-96).
        match addr.to_canonical() {
            std::net::IpAddr::V4(v4) if addr.is_ipv6() => Some(Self {
                addr: v4.into(),
                prefix: prefix.checked_sub(96)?,
            }),
            _ => Some(Self { addr, prefix }),
        }
    }

    /// Whether `ip` lies in this block (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let masked = |bits: u128, width: u32| -> u128 {
            let keep = u32::from(self.prefix);
            if keep == 0 {
                0
            } else {
                (bits >> (width - keep)) << (width - keep)
            }
        };
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u128::from(u32::from(net)), 32) == masked(u128::from(u32::from(ip)), 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128) == masked(u128::from(ip), 128)
            }
            _ => false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("wimdeck-data"),
            database_url: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            site_root: PathBuf::from("target/site"),
            log: "info".into(),
            session: SessionConfig::default(),
            http: HttpConfig::default(),
            jobs: JobsConfig::default(),
            images: ImagesConfig::default(),
            distribution: DistributionConfig::default(),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout_minutes: 30,
            absolute_timeout_hours: 12,
            secure_cookie: SecureCookie::Auto,
            reauthenticate_after_minutes: 5,
        }
    }
}

/// Background jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// A running job's lease: if its worker stops renewing it this long, the job is recovered.
    pub lease_secs: u32,
    /// How often a running job renews its lease and saves its progress and log.
    pub heartbeat_ms: u32,
    /// At shutdown, how long running jobs may take to finish before they are handed back.
    pub shutdown_grace_secs: u32,
    /// Finished jobs are deleted this many days after they ended.
    pub retention_days: u32,
    /// Concurrent jobs per kind, e.g. `{ "storage-check" = 2 }`; other kinds use their default.
    pub concurrency: std::collections::HashMap<String, usize>,
    /// The largest storage check a user may start.
    pub storage_check_max_mib: u32,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            lease_secs: 30,
            heartbeat_ms: 1000,
            shutdown_grace_secs: 10,
            retention_days: 30,
            concurrency: std::collections::HashMap::new(),
            storage_check_max_mib: 16_384,
        }
    }
}

/// Distribution points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistributionConfig {
    /// A DP that has not reported for this long is shown offline.
    pub offline_after_minutes: u32,
    /// How long an enrollment token can be used.
    pub enrollment_token_hours: u32,
    /// How long a DP's poll waits for new work before it is answered with none.
    pub poll_wait_secs: u32,
    /// Whether this server runs its own DP ("This server") with content in
    /// `<data_dir>/dp`.
    pub site_dp: bool,
}

impl Default for DistributionConfig {
    fn default() -> Self {
        Self {
            offline_after_minutes: 10,
            enrollment_token_hours: 24,
            poll_wait_secs: 25,
            site_dp: true,
        }
    }
}

/// Where images come from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImagesConfig {
    /// Local directories images may be read from; nothing outside them is opened.
    pub source_roots: Vec<PathBuf>,
    /// Share paths admins type, mapped to local directories:
    /// `"\\\\deploy01\\sources" = "/srv/sources"`.
    pub shares: std::collections::BTreeMap<String, PathBuf>,
    /// The Windows PE each default boot image is made from, per architecture (`x86`,
    /// `amd64`): the ADK's `winpe.wim` or any `boot.wim`. Wimdeck (re)creates the default boot
    /// images from them at start and on demand when their Windows PE version changes.
    pub default_boot_sources: std::collections::BTreeMap<String, PathBuf>,
    /// The largest file accepted by upload from the browser, in bytes (default 64 GiB).
    pub upload_max_bytes: Option<u64>,
    /// How many of a boot image's newest revisions keep their files (default 5, at least 1:
    /// the current one is never removed); older revisions stay listed with their recipe.
    pub boot_revisions_kept: Option<usize>,
}

impl ImagesConfig {
    pub fn revisions_kept(&self) -> usize {
        self.boot_revisions_kept.unwrap_or(5).max(1)
    }
}

/// Settings given on the command line; each one set overrides every other source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConfigOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
}

/// The environment variable that names the config file; not itself a setting.
pub const CONFIG_FILE_ENV: &str = "WIMDECK_CONFIG";

impl Config {
    /// Loads the configuration from all sources. A named file must exist.
    pub fn load(file: Option<&Path>, overrides: &ConfigOverrides) -> Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(Error::Config(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        let config: Config = figment
            .merge(
                Env::prefixed("WIMDECK_")
                    .ignore(&["CONFIG"])
                    .split("__")
                    .lowercase(true),
            )
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(|e| Error::Config(describe_figment_error(e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        let s = &self.session;
        if s.idle_timeout_minutes == 0 {
            return Err(Error::Config(
                "session.idle_timeout_minutes must be at least 1".into(),
            ));
        }
        if s.reauthenticate_after_minutes == 0 {
            return Err(Error::Config(
                "session.reauthenticate_after_minutes must be at least 1".into(),
            ));
        }
        if s.absolute_timeout_hours == 0 {
            return Err(Error::Config(
                "session.absolute_timeout_hours must be at least 1".into(),
            ));
        }
        let j = &self.jobs;
        if j.lease_secs < 2 || u64::from(j.heartbeat_ms) * 2 > u64::from(j.lease_secs) * 1000 {
            return Err(Error::Config(
                "jobs.lease_secs must be at least 2 and twice jobs.heartbeat_ms or more".into(),
            ));
        }
        if j.retention_days == 0 {
            return Err(Error::Config(
                "jobs.retention_days must be at least 1".into(),
            ));
        }
        self.http.trusted_proxy_nets()?;
        if let Some(arch) = self
            .images
            .default_boot_sources
            .keys()
            .find(|a| !matches!(a.as_str(), "x86" | "amd64" | "arm64"))
        {
            return Err(Error::Config(format!(
                "images.default_boot_sources: '{arch}' is not an architecture (x86, amd64, arm64)"
            )));
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            return Err(Error::Config(format!(
                "database_url must start with sqlite:, postgres:// or postgresql:// (got {})",
                redact_url(url)
            )));
        }
        Ok(())
    }

    /// The database URL in force: the configured one, or SQLite inside the data directory.
    pub fn effective_database_url(&self) -> Result<String> {
        if let Some(url) = &self.database_url {
            return Ok(url.clone());
        }
        let path = self.data_dir.join("wimdeck.db");
        let path = path
            .to_str()
            .ok_or_else(|| Error::Config("data_dir must be valid UTF-8".into()))?;
        Ok(format!("sqlite://{path}?mode=rwc"))
    }

    /// Scratch space for jobs (under the data directory).
    pub fn work_dir(&self) -> PathBuf {
        self.data_dir.join("work")
    }

    /// The configuration as TOML, with any database password masked.
    pub fn to_toml_redacted(&self) -> Result<String> {
        let mut shown = self.clone();
        shown.database_url = shown.database_url.as_deref().map(redact_url);
        toml::to_string_pretty(&shown).map_err(|e| Error::Internal(e.to_string()))
    }

    pub(crate) fn idle_timeout_ms(&self) -> i64 {
        i64::from(self.session.idle_timeout_minutes) * 60_000
    }

    pub(crate) fn absolute_timeout_ms(&self) -> i64 {
        i64::from(self.session.absolute_timeout_hours) * 3_600_000
    }
}

/// Replaces the password of `scheme://user:password@host/…` with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

fn describe_figment_error(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let mut text = e.to_string();
            if let Some(source) = e.metadata.as_ref().map(|m| m.name.to_string()) {
                text.push_str(&format!(" (from {source})"));
            }
            text
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(contents: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("wimdeck.toml");
        std::fs::write(&path, contents).expect("write config");
        (dir, path)
    }

    #[test]
    fn defaults_when_nothing_is_given() {
        let config = Config::load(None, &ConfigOverrides::default()).expect("load");
        assert_eq!(config.session.idle_timeout_minutes, 30);
        assert!(
            config
                .effective_database_url()
                .expect("url")
                .ends_with("wimdeck-data/wimdeck.db?mode=rwc")
        );
    }

    #[test]
    fn file_then_flags_override() {
        let (_dir, path) = with_file(
            "data_dir = \"/srv/wimdeck\"\nlisten = \"0.0.0.0:9000\"\n[session]\nidle_timeout_minutes = 5\n",
        );
        let overrides = ConfigOverrides {
            listen: Some("127.0.0.1:7000".parse().expect("addr")),
            ..Default::default()
        };
        let config = Config::load(Some(&path), &overrides).expect("load");
        assert_eq!(config.data_dir, PathBuf::from("/srv/wimdeck"));
        assert_eq!(config.listen.port(), 7000);
        assert_eq!(config.session.idle_timeout_minutes, 5);
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name_and_source() {
        let (_dir, path) = with_file("[session]\nidle_timeout = 5\n");
        let err = Config::load(Some(&path), &ConfigOverrides::default()).expect_err("must fail");
        let text = err.to_string();
        assert!(text.contains("idle_timeout"), "{text}");
        assert!(text.contains("wimdeck.toml"), "{text}");
    }

    #[test]
    fn missing_file_is_an_error() {
        let err = Config::load(
            Some(Path::new("/nonexistent/w.toml")),
            &ConfigOverrides::default(),
        )
        .expect_err("must fail");
        assert!(err.to_string().contains("does not exist"));
    }

    #[test]
    fn bad_values_are_rejected() {
        let (_dir, path) = with_file("database_url = \"mysql://x\"\n");
        assert!(Config::load(Some(&path), &ConfigOverrides::default()).is_err());
        let (_dir, path) = with_file("[session]\nidle_timeout_minutes = 0\n");
        assert!(Config::load(Some(&path), &ConfigOverrides::default()).is_err());
    }

    #[test]
    fn job_timing_must_leave_room_for_heartbeats() {
        let (_dir, path) = with_file("[jobs]\nlease_secs = 2\nheartbeat_ms = 1500\n");
        let err = Config::load(Some(&path), &ConfigOverrides::default()).expect_err("must fail");
        assert!(err.to_string().contains("jobs.lease_secs"), "{err}");
        let (_dir, path) = with_file("[jobs.concurrency]\nstorage-check = 2\n");
        let config = Config::load(Some(&path), &ConfigOverrides::default()).expect("load");
        assert_eq!(config.jobs.concurrency.get("storage-check"), Some(&2));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        let config = Config {
            database_url: Some("postgres://u:pw@h/db".into()),
            ..Config::default()
        };
        assert!(!config.to_toml_redacted().expect("toml").contains("pw"));
    }

    #[test]
    fn trusted_proxies_are_addresses_or_blocks() {
        let net = |t: &str| IpNet::parse(t).unwrap_or_else(|| panic!("{t}"));
        let ip = |t: &str| t.parse::<std::net::IpAddr>().expect("ip");
        assert!(net("10.0.0.5").contains(ip("10.0.0.5")));
        assert!(!net("10.0.0.5").contains(ip("10.0.0.6")));
        assert!(net("192.0.2.0/24").contains(ip("192.0.2.200")));
        assert!(!net("192.0.2.0/24").contains(ip("192.0.3.1")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(net("127.0.0.1").contains(ip("::ffff:127.0.0.1")));
        assert!(net("::ffff:10.0.0.0/104").contains(ip("10.1.2.3")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:1::1")));
        assert!(!net("2001:db8::/32").contains(ip("10.0.0.1")));
        for bad in [
            "",
            "10.0.0.0/33",
            "::1/129",
            "example.com",
            "10.0.0.0/-1",
            "::ffff:1.2.3.4/90",
        ] {
            assert!(IpNet::parse(bad).is_none(), "{bad}");
        }
        let (_dir, path) = with_file("[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"nonsense\"]\n");
        let err = Config::load(Some(&path), &ConfigOverrides::default()).expect_err("must fail");
        assert!(err.to_string().contains("'nonsense'"), "{err}");
    }
}
