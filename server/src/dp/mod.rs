//! Distribution points over HTTP: the site's endpoints ([`routes`]), the DP's client
//! ([`client`]), and the commands and tasks that run an agent: `wimdeck dp enroll`,
//! `wimdeck dp serve`, and this server's own DP.

pub mod client;
pub mod routes;

use std::{path::Path, sync::Arc};

use domain::{
    Domain,
    distribution::{
        agent::{Agent, AgentOptions, Enrollment, Layout},
        points::DpReport,
        protocol::{EnrollRequest, PROTOCOL},
    },
};
use tokio_util::sync::CancellationToken;

use crate::Error;
use client::{HttpSite, Trust};

/// `wimdeck dp enroll`: trades the token for a credential and keeps it in `data_dir`.
pub async fn enroll(
    site: &str,
    token: &str,
    data_dir: &Path,
    trust: Trust,
) -> Result<Enrollment, Error> {
    let layout = Layout::new(data_dir);
    let client = HttpSite::new(site, "", trust.clone())?;
    let response = client
        .enroll(&EnrollRequest {
            protocol: PROTOCOL,
            token: token.trim().to_owned(),
            report: DpReport {
                agent_version: domain::VERSION.to_owned(),
                free_bytes: 0,
                library_bytes: 0,
            },
        })
        .await?;
    let pinned = match trust {
        Trust::System => None,
        Trust::Pinned(pin) => Some(pin),
        Trust::FirstUse => client.certificate_seen(),
    };
    let enrollment = Enrollment {
        site: site.trim_end_matches('/').to_owned(),
        dp_id: response.dp_id,
        dp_name: response.dp_name,
        credential: response.credential,
        pinned_certificate_sha256: pinned,
    };
    layout.write_enrollment(&enrollment)?;
    Ok(enrollment)
}

/// The trust an enrolled DP uses for its site.
fn trust_of(enrollment: &Enrollment) -> Trust {
    match &enrollment.pinned_certificate_sha256 {
        Some(pin) => Trust::Pinned(pin.clone()),
        None => Trust::System,
    }
}

/// Runs an enrolled DP's agent until `cancel` fires.
pub async fn serve(data_dir: &Path, cancel: CancellationToken) -> Result<(), Error> {
    let layout = Layout::new(data_dir);
    let enrollment = layout.read_enrollment()?;
    let client = HttpSite::new(
        &enrollment.site,
        &enrollment.credential,
        trust_of(&enrollment),
    )?;
    tracing::info!(
        dp = %enrollment.dp_name,
        site = %enrollment.site,
        "distribution point agent started"
    );
    Agent::new(Arc::new(client), AgentOptions::new(data_dir))
        .run(cancel)
        .await;
    Ok(())
}

/// Starts this server's own DP ("This server"), unless it is disabled: an agent with its
/// content in `<data_dir>/dp`, talking to this server over loopback like any DP. Of several
/// site servers sharing a database one runs it; the others wait to take over when it stops.
pub async fn start_site_dp(
    domain: &Domain,
    local: std::net::SocketAddr,
    cancel: CancellationToken,
) -> Result<Option<tokio::task::JoinHandle<()>>, Error> {
    if !domain.config().distribution.site_dp {
        return Ok(None);
    }
    let site = domain.distribution_points().ensure_site().await?;
    if !site.enabled {
        tracing::info!("this server's distribution point is disabled");
        return Ok(None);
    }
    let mut address = local;
    if address.ip().is_unspecified() {
        address.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let domain = domain.clone();
    Ok(Some(tokio::spawn(async move {
        run_site_dp(&domain, address, cancel).await;
    })))
}

async fn run_site_dp(domain: &Domain, address: std::net::SocketAddr, cancel: CancellationToken) {
    const RETRY: std::time::Duration = std::time::Duration::from_secs(10);
    let mut told = false;
    loop {
        match hold_site_dp(domain, address, &cancel).await {
            Ok(Held::Stopped) => return,
            Ok(Held::Elsewhere) if !told => {
                tracing::info!(
                    "this server's distribution point runs on another site server sharing the \
                     database; this one takes over if that one stops"
                );
                told = true;
            }
            Ok(Held::Elsewhere) => {}
            Ok(Held::Lost) => {
                tracing::warn!(
                    "this server lost the database lock of its distribution point and stopped it; \
                     it takes it again when it can"
                );
                told = false;
            }
            Err(e) => tracing::warn!("this server's distribution point: {e}; trying again"),
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}

/// How [`hold_site_dp`] ended.
enum Held {
    /// Another site server runs it.
    Elsewhere,
    /// The lease's database session ended: the agent was stopped.
    Lost,
    /// The server is stopping.
    Stopped,
}

/// Runs "This server"'s DP for as long as this server holds its lease (checked every few
/// seconds: a database restart ends the session that held it, and another server may take
/// it).
async fn hold_site_dp(
    domain: &Domain,
    address: std::net::SocketAddr,
    cancel: &CancellationToken,
) -> Result<Held, Error> {
    const LEASE_CHECK: std::time::Duration = std::time::Duration::from_secs(5);
    let Some(mut lease) = domain.distribution_points().try_lease_site_dp().await? else {
        return Ok(Held::Elsewhere);
    };
    let (_, credential) = domain.distribution_points().issue_site_credential().await?;
    let client = HttpSite::new(&format!("http://{address}"), &credential, Trust::System)?;
    let data_dir = domain.config().data_dir.join("dp");
    std::fs::create_dir_all(&data_dir)?;
    // What the site records of this DP may describe another server's folder.
    let asked = domain
        .distribution_points()
        .reconcile_site_dp(&Layout::new(&data_dir))
        .await?;
    if asked > 0 {
        tracing::info!(
            "this server's distribution point lacks {asked} contents it is recorded as holding: asked for again"
        );
    }
    let stop = cancel.child_token();
    let agent =
        tokio::spawn(Agent::new(Arc::new(client), AgentOptions::new(data_dir)).run(stop.clone()));
    let held = loop {
        tokio::select! {
            () = cancel.cancelled() => break Held::Stopped,
            () = tokio::time::sleep(LEASE_CHECK) => {
                if !lease.alive().await {
                    break Held::Lost;
                }
            }
        }
    };
    stop.cancel();
    let _ = agent.await;
    Ok(held)
}
