//! The DP agent: what `wimdeck dp serve` (and this server's own DP) runs. It only connects
//! out: it polls the site for work, fetches manifests and the chunks it lacks, assembles and
//! verifies each file, switches versions atomically and reports. Killed at any point, it
//! resumes: what its staging folder holds verified is kept, the version in use is never
//! touched.
//!
//! The transport is the site's business ([`SiteClient`]): HTTP for a DP, the same HTTP to
//! 127.0.0.1 for this server's own.

mod assemble;
pub mod layout;
pub mod prestaged;
pub mod sweep;
mod transfer;
mod validate;

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio_util::sync::CancellationToken;

pub use layout::{Enrollment, Installed, Layout};

use super::{
    points::DpReport,
    protocol::{
        AgentSettings, ChunksRequest, DemandRequest, DemandResponse, PROTOCOL, PollRequest,
        PollResponse, ReportedState, StatusReport, WorkAction, WorkItem,
    },
};
use crate::{Error, Result, jobs::BoxFuture};

/// The chunks' bytes, one after the other in the order asked, in frames of any size (as the
/// response arrives: they are written and hashed as they are, never copied to be joined).
pub type ChunkStream = Pin<Box<dyn futures::Stream<Item = std::io::Result<bytes::Bytes>> + Send>>;

/// How an agent talks to its site.
pub trait SiteClient: Send + Sync + 'static {
    fn poll<'a>(&'a self, request: &'a PollRequest) -> BoxFuture<'a, Result<PollResponse>>;
    fn manifest<'a>(&'a self, sha256: &'a str) -> BoxFuture<'a, Result<Vec<u8>>>;
    fn chunks<'a>(&'a self, request: &'a ChunksRequest) -> BoxFuture<'a, Result<ChunkStream>>;
    fn report<'a>(&'a self, report: &'a StatusReport) -> BoxFuture<'a, Result<()>>;
    fn demand<'a>(&'a self, request: &'a DemandRequest) -> BoxFuture<'a, Result<DemandResponse>>;
}

/// How often an idle agent sweeps its folder.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// What an agent is given.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    pub data_dir: std::path::PathBuf,
    /// How long a poll may wait at the site for work.
    pub poll_wait_secs: u32,
    /// Pause after a failed poll (doubled up to a minute while the site stays unreachable).
    pub retry_after: Duration,
}

impl AgentOptions {
    pub fn new(data_dir: impl Into<std::path::PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            poll_wait_secs: 25,
            retry_after: Duration::from_secs(1),
        }
    }
}

/// Work under way on one content.
struct Running {
    assignment_id: i64,
    generation: i32,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// A running DP agent.
pub struct Agent {
    client: Arc<dyn SiteClient>,
    layout: Layout,
    options: AgentOptions,
    settings: Mutex<AgentSettings>,
    limiter: transfer::RateLimiter,
}

impl Agent {
    pub fn new(client: Arc<dyn SiteClient>, options: AgentOptions) -> Arc<Self> {
        Arc::new(Self {
            client,
            layout: Layout::new(&options.data_dir),
            options,
            settings: Mutex::new(AgentSettings::default()),
            limiter: transfer::RateLimiter::default(),
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn report_of_self(&self) -> DpReport {
        DpReport {
            agent_version: crate::VERSION.to_owned(),
            free_bytes: self.layout.free_bytes(),
            library_bytes: self.layout.library_bytes(),
        }
    }

    /// Polls and works until `cancel` fires. It keeps polling while transfers run: new work
    /// (a removal, a higher priority, changed settings) is seen at once, and a newer request
    /// about a content being worked on stops the older one first.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
        let mut backoff = self.options.retry_after;
        let mut running: HashMap<i64, Running> = HashMap::new();
        let semaphore = Arc::new(tokio::sync::Semaphore::new(1));
        let mut limit = 1usize;
        let mut next_sweep = tokio::time::Instant::now();
        while !cancel.is_cancelled() {
            running.retain(|_, r| !r.task.is_finished());
            // Leftovers are swept at the start, then hourly, only while nothing runs.
            if running.is_empty() && tokio::time::Instant::now() >= next_sweep {
                next_sweep = tokio::time::Instant::now() + SWEEP_EVERY;
                self.sweep().await;
            }
            let request = PollRequest {
                protocol: PROTOCOL,
                report: self.report_of_self(),
                wait_secs: self.options.poll_wait_secs,
                busy: running
                    .values()
                    .map(|r| (r.assignment_id, r.generation))
                    .collect(),
                prestaged: prestaged::available(&self.layout),
            };
            let polled = tokio::select! {
                polled = self.client.poll(&request) => polled,
                () = cancel.cancelled() => break,
            };
            match polled {
                Ok(response) => {
                    backoff = self.options.retry_after;
                    let wanted = response.settings.concurrent_transfers.clamp(1, 16) as usize;
                    if wanted > limit {
                        semaphore.add_permits(wanted - limit);
                        limit = wanted;
                    }
                    self.limiter.configure(&response.settings);
                    for item in response.work {
                        if running.get(&item.content_id).is_some_and(|old| {
                            (old.assignment_id, old.generation)
                                == (item.assignment_id, item.generation)
                        }) {
                            continue;
                        }
                        let previous = running.remove(&item.content_id);
                        if let Some(old) = &previous {
                            old.cancel.cancel();
                        }
                        let stop = cancel.child_token();
                        let agent = self.clone();
                        let permits = semaphore.clone();
                        let token = stop.clone();
                        let (assignment_id, generation, content_id) =
                            (item.assignment_id, item.generation, item.content_id);
                        let task = tokio::spawn(async move {
                            // One task per content at a time: the older one ends first.
                            if let Some(old) = previous {
                                let _ = old.task.await;
                            }
                            let Ok(_permit) = permits.acquire_owned().await else {
                                return;
                            };
                            agent.handle(item, &token).await;
                        });
                        running.insert(
                            content_id,
                            Running {
                                assignment_id,
                                generation,
                                cancel: stop,
                                task,
                            },
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!("polling the site failed: {}", e.sentence());
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = cancel.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
        for (_, r) in running {
            r.cancel.cancel();
            let _ = r.task.await;
        }
    }

    /// Removes what the DP's folder gathered and nothing uses (see [`sweep`]); call it only
    /// while no work runs.
    async fn sweep(&self) {
        let layout = self.layout.clone();
        let swept = tokio::task::spawn_blocking(move || {
            sweep::sweep(&layout, std::time::SystemTime::now())
        })
        .await;
        match swept {
            Ok(Ok(swept)) if swept.files > 0 => tracing::info!(
                files = swept.files,
                bytes = swept.bytes,
                "removed leftovers nothing uses from the DP's folder"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("sweeping the DP's folder failed: {}", e.sentence()),
            Err(e) => tracing::warn!("sweeping the DP's folder stopped: {e}"),
        }
    }

    /// Does one poll's work and waits for all of it: up to `concurrent_transfers` items at
    /// once, in the site's order (highest priority first). (What tests and one-shot callers
    /// use; [`Agent::run`] keeps polling meanwhile.)
    pub async fn work(self: &Arc<Self>, response: PollResponse, cancel: &CancellationToken) {
        let limit = response.settings.concurrent_transfers.clamp(1, 16) as usize;
        self.limiter.configure(&response.settings);
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = response.settings;
        let semaphore = Arc::new(tokio::sync::Semaphore::new(limit));
        let mut tasks = tokio::task::JoinSet::new();
        for item in response.work {
            let Ok(permit) = semaphore.clone().acquire_owned().await else {
                break;
            };
            let agent = self.clone();
            let cancel = cancel.clone();
            tasks.spawn(async move {
                let _permit = permit;
                agent.handle(item, &cancel).await;
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// A client asked this DP for content it does not hold: asks the site to send it here, if
    /// the content is distributed on demand and this DP is a preferred one for the client
    /// (what the PXE and multicast services call).
    pub async fn demand(
        &self,
        object: crate::content::ContentObject,
        client: std::net::IpAddr,
    ) -> Result<DemandResponse> {
        self.client
            .demand(&DemandRequest {
                object_type: object.object_type,
                object_id: object.object_id,
                client: client.to_string(),
            })
            .await
    }

    /// Does one item and reports how it ended.
    async fn handle(&self, item: WorkItem, cancel: &CancellationToken) {
        // Not dropped when cancelled: a transfer stops at its next chunk and waits for its
        // blocking work, so nothing still writes in the content's folder when the next
        // request about it starts.
        let outcome = self.perform(&item, cancel).await;
        if cancel.is_cancelled() {
            return;
        }
        let report = match outcome {
            Ok(report) => report,
            Err(e) => StatusReport {
                assignment_id: item.assignment_id,
                generation: item.generation,
                state: ReportedState::Failed,
                version_id: item.version.as_ref().map(|v| v.id),
                bytes_total: item.version.as_ref().map(|v| v.total_bytes),
                bytes_needed: None,
                bytes_done: 0,
                rate_bps: None,
                detail: Some(e.sentence()),
            },
        };
        self.send_report(&report).await;
    }

    /// Reports, trying a few times (a report lost for good is made again: the site offers
    /// the work again and the agent finds it done).
    async fn send_report(&self, report: &StatusReport) {
        for attempt in 0..3u32 {
            match self.client.report(report).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!("reporting to the site failed: {}", e.sentence());
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
    }

    async fn perform(&self, item: &WorkItem, cancel: &CancellationToken) -> Result<StatusReport> {
        match item.action {
            WorkAction::Install | WorkAction::Redistribute => {
                transfer::install(self, item, cancel).await
            }
            WorkAction::Validate => validate::validate(self, item).await,
            WorkAction::Remove => {
                let dir = self.layout.content_dir(item.content_id);
                let removed =
                    tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                        _ => Ok(()),
                    })
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))?;
                removed?;
                Ok(StatusReport {
                    assignment_id: item.assignment_id,
                    generation: item.generation,
                    state: ReportedState::Removed,
                    version_id: None,
                    bytes_total: None,
                    bytes_needed: None,
                    bytes_done: 0,
                    rate_bps: None,
                    detail: None,
                })
            }
        }
    }
}
