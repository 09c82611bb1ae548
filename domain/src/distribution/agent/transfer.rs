//! Installing a version on a DP: plan what is local and what must be fetched, fetch it while
//! the files are assembled, repair what a damaged local chunk spoiled, switch.

use std::{
    collections::HashMap,
    fs,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::{
    Agent, Installed,
    assemble::{self, ChunkData, LocalCopy, Plan},
};
use crate::{
    Error, Result,
    content::{ChunkRef, Manifest, manifest::sha256_hex},
    distribution::protocol::{
        AgentSettings, ChunksRequest, MAX_CHUNKS_PER_REQUEST, ReportedState, StatusReport,
        VersionRef, WorkAction, WorkItem,
    },
};

/// How often progress is reported while chunks arrive.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Bytes asked of the site in one request (besides the count limit).
const BATCH_BYTES: u64 = 32 * 1024 * 1024;

/// Chunks received and not yet written (at most this many MiB, chunks being 1 MiB at most).
const IN_FLIGHT_CHUNKS: usize = 64;

/// Shares the DP's rate limit among its transfers: each chunk is scheduled after the ones
/// before it, whichever transfer they belong to.
#[derive(Default)]
pub(super) struct RateLimiter {
    state: Mutex<Limit>,
}

#[derive(Default)]
struct Limit {
    kbps: Option<u32>,
    hours: Option<(u8, u8)>,
    /// When the bytes already let through will have been received at the limit.
    next: Option<Instant>,
}

impl RateLimiter {
    pub(super) fn configure(&self, settings: &AgentSettings) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.kbps = settings.rate_limit_kbps;
        state.hours = settings.rate_limit_hours;
    }

    /// Waits until `bytes` may be received.
    async fn take(&self, bytes: u64) {
        let until = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let Some(kbps) = state.kbps.filter(|k| *k > 0) else {
                return;
            };
            if let Some((from, to)) = state.hours {
                use chrono::Timelike;
                let hour = u8::try_from(chrono::Local::now().hour()).unwrap_or(0);
                let inside = if from < to {
                    hour >= from && hour < to
                } else {
                    hour >= from || hour < to
                };
                if !inside {
                    return;
                }
            }
            let now = Instant::now();
            let start = state.next.filter(|n| *n > now).unwrap_or(now);
            let until = start + Duration::from_secs_f64(bytes as f64 / (f64::from(kbps) * 1024.0));
            state.next = Some(until);
            start
        };
        tokio::time::sleep_until(until.into()).await;
    }
}

pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("a DP task stopped: {e}")))?
}

/// The manifest of a version: from the DP's own copy or its prestaged content, or fetched
/// and kept.
pub(super) async fn manifest_of(
    agent: &Agent,
    item: &WorkItem,
    version: &VersionRef,
) -> Result<Manifest> {
    let path = agent
        .layout
        .manifest_path(item.content_id, &version.manifest_sha256);
    let prestaged = agent
        .layout
        .prestaged()
        .manifest_path(&version.manifest_sha256);
    for copy in [&path, &prestaged] {
        if let Ok(bytes) = fs::read(copy)
            && sha256_hex(&bytes) == version.manifest_sha256
            && let Ok(manifest) = Manifest::parse(&bytes)
        {
            if copy == &prestaged {
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)?;
                }
                crate::fsx::write_atomically(&path, &bytes)?;
            }
            return Ok(manifest);
        }
    }
    let bytes = agent.client.manifest(&version.manifest_sha256).await?;
    if sha256_hex(&bytes) != version.manifest_sha256 {
        return Err(Error::Conflict(
            "the site sent a manifest that does not match its hash".into(),
        ));
    }
    let manifest = Manifest::parse(&bytes)?;
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    crate::fsx::write_atomically(&path, &bytes)?;
    Ok(manifest)
}

/// Where each chunk of the version in use lies.
fn local_copies(agent: &Agent, content_id: i64) -> HashMap<String, LocalCopy> {
    let mut copies = HashMap::new();
    let Ok(Some((installed, dir))) = agent.layout.installed(content_id) else {
        return copies;
    };
    let path = agent
        .layout
        .manifest_path(content_id, &installed.manifest_sha256);
    let Some(manifest) = fs::read(&path).ok().and_then(|b| Manifest::parse(&b).ok()) else {
        return copies;
    };
    for file in &manifest.files {
        let mut offset = 0;
        for chunk in &file.chunks {
            copies.entry(chunk.sha256.clone()).or_insert(LocalCopy {
                file: dir.join(&file.path),
                offset,
            });
            offset += u64::from(chunk.size);
        }
    }
    copies
}

fn progress(
    item: &WorkItem,
    version: &VersionRef,
    needed: u64,
    done: u64,
    rate: Option<u64>,
) -> StatusReport {
    StatusReport {
        assignment_id: item.assignment_id,
        generation: item.generation,
        state: ReportedState::InProgress,
        version_id: Some(version.id),
        bytes_total: Some(version.total_bytes),
        bytes_needed: Some(needed),
        bytes_done: done,
        rate_bps: rate,
        detail: None,
    }
}

/// Installs the item's version: fetches the chunks that neither the version in use nor the
/// cache nor an earlier attempt has, writing every file in the staging folder as they arrive;
/// checks each file against the manifest, then switches to the version.
pub(super) async fn install(
    agent: &Agent,
    item: &WorkItem,
    cancel: &CancellationToken,
) -> Result<StatusReport> {
    let version = item
        .version
        .clone()
        .ok_or_else(|| Error::Internal("an install without a version".into()))?;
    let layout = agent.layout.clone();
    let installed = layout.installed(item.content_id)?;
    let folder = super::Layout::folder_name(version.number, item.generation);
    // Already in place: for an install, any copy of the version; for a redistribution, the
    // one this very request made (its report was lost).
    if installed.as_ref().is_some_and(|(i, dir)| {
        i.manifest_sha256 == version.manifest_sha256
            && i.version_id == version.id
            && (item.action == WorkAction::Install || dir.ends_with(&folder))
    }) {
        // A prestaged copy of a version already in place is not needed either.
        let prestaged = layout.prestaged();
        let manifest_sha256 = version.manifest_sha256.clone();
        blocking(move || super::prestaged::release(&prestaged, &manifest_sha256)).await?;
        return Ok(done(item, &version, 0));
    }
    let manifest = Arc::new(manifest_of(agent, item, &version).await?);
    let cache = layout.cache();
    let staging = layout.staging_dir(item.content_id, &folder);
    let plan = {
        let copies = if item.differential {
            local_copies(agent, item.content_id)
        } else {
            HashMap::new()
        };
        // Prestaged chunks always count (the admin brought them); the cache only when
        // differential replication is on.
        let mut stores = vec![layout.prestaged()];
        if item.differential {
            stores.push(cache.clone());
        }
        let (manifest, staging) = (manifest.clone(), staging.clone());
        blocking(move || Plan::new(&manifest, &staging, copies, &stores)).await?
    };
    let needed = plan.fetch_bytes();
    agent
        .send_report(&progress(item, &version, needed, 0, None))
        .await;
    let tally = Tally {
        needed: AtomicU64::new(needed),
        received: AtomicU64::new(0),
    };
    let wanted = plan.fetch.clone();
    let (sender, mut receiver) = tokio::sync::mpsc::channel(IN_FLIGHT_CHUNKS);
    // Dropped with this future (a newer request, a shutdown): the assembler stops too.
    let stop = StopOnDrop(Arc::new(AtomicBool::new(false)));
    let assembler = {
        let (manifest, staging, stop) = (manifest.clone(), staging.clone(), stop.0.clone());
        tokio::task::spawn_blocking(move || {
            plan.assemble(&manifest, &staging, || receiver.blocking_recv(), &stop)
        })
    };
    let fetched = tokio::select! {
        fetched = fetch(agent, item, &version, &wanted, &tally, sender) => fetched,
        () = cancel.cancelled() => Err(stopped(&stop)),
    };
    let assembled = assembler
        .await
        .map_err(|e| Error::Internal(format!("a DP task stopped: {e}")))?;
    let damaged = match assembled {
        Err(e) if is_no_space(&e) => {
            // Free what the attempt took; the version in use stays as it was.
            let _ = fs::remove_dir_all(&staging);
            return Err(Error::Conflict(format!(
                "the DP ran out of disk space assembling version {} ({} bytes needed, {} free); the version in use is intact",
                version.number,
                version.total_bytes,
                layout.free_bytes()
            )));
        }
        Err(e) => return Err(e),
        Ok(None) => {
            fetched?;
            return Err(Error::Conflict("the transfer stopped".into()));
        }
        Ok(Some(damaged)) => {
            fetched?;
            damaged
        }
    };
    if !damaged.is_empty() {
        tokio::select! {
            repaired = repair(agent, item, &version, &manifest, &staging, &damaged, &tally) => repaired?,
            () = cancel.cancelled() => return Err(stopped(&stop)),
        }
    }
    let record = Installed {
        version_id: version.id,
        number: version.number,
        manifest_sha256: version.manifest_sha256.clone(),
    };
    {
        let layout = layout.clone();
        let content = item.content_id;
        blocking(move || layout.switch_to(content, &record, &folder)).await?;
    }
    // Chunks now in files are no longer needed in the cache, nor the version's prestaged
    // copy.
    let prestaged = layout.prestaged();
    let manifest_sha256 = version.manifest_sha256.clone();
    blocking(move || {
        for chunk in manifest.distinct_chunks() {
            cache.remove_chunk(&chunk.sha256)?;
        }
        super::prestaged::release(&prestaged, &manifest_sha256)
    })
    .await?;
    Ok(done(item, &version, tally.received.load(Ordering::Relaxed)))
}

/// What a transfer needs to fetch and has fetched (for its progress reports).
struct Tally {
    needed: AtomicU64,
    received: AtomicU64,
}

/// Stops the assembler (at its next chunk) and says why.
fn stopped(stop: &StopOnDrop) -> Error {
    stop.0.store(true, Ordering::Relaxed);
    Error::Conflict("the transfer was stopped".into())
}

/// Sets its flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Files whose SHA-256 differed once assembled (a local chunk was damaged): their damaged
/// chunks are fetched into the cache, checked, and written over the bad ones.
async fn repair(
    agent: &Agent,
    item: &WorkItem,
    version: &VersionRef,
    manifest: &Arc<Manifest>,
    staging: &std::path::Path,
    damaged: &[usize],
    tally: &Tally,
) -> Result<()> {
    let bad = {
        let (manifest, staging, damaged) = (manifest.clone(), staging.to_owned(), damaged.to_vec());
        blocking(move || {
            let mut bad = Vec::new();
            for index in damaged {
                bad.extend(assemble::damaged_chunks(&manifest.files[index], &staging)?);
            }
            bad.sort_by(|a, b| a.sha256.cmp(&b.sha256));
            bad.dedup();
            Ok(bad)
        })
        .await?
    };
    let extra: u64 = bad.iter().map(|c| u64::from(c.size)).sum();
    let cache = agent.layout.cache();
    let (sender, mut receiver) =
        tokio::sync::mpsc::channel::<(ChunkRef, ChunkData)>(IN_FLIGHT_CHUNKS);
    let store = {
        let cache = cache.clone();
        tokio::task::spawn_blocking(move || {
            while let Some((chunk, data)) = receiver.blocking_recv() {
                cache.cache_chunk(&chunk, &data.to_vec())?;
            }
            Ok::<_, Error>(())
        })
    };
    tally.needed.fetch_add(extra, Ordering::Relaxed);
    let fetched = fetch(agent, item, version, &bad, tally, sender).await;
    store
        .await
        .map_err(|e| Error::Internal(format!("a DP task stopped: {e}")))??;
    fetched?;
    let (manifest, staging, damaged) = (manifest.clone(), staging.to_owned(), damaged.to_vec());
    blocking(move || {
        for index in damaged {
            assemble::repair(&manifest.files[index], &staging, &cache)?;
        }
        Ok(())
    })
    .await
}

fn done(item: &WorkItem, version: &VersionRef, needed: u64) -> StatusReport {
    StatusReport {
        assignment_id: item.assignment_id,
        generation: item.generation,
        state: ReportedState::Installed,
        version_id: Some(version.id),
        bytes_total: Some(version.total_bytes),
        bytes_needed: Some(needed),
        bytes_done: needed,
        rate_bps: None,
        detail: None,
    }
}

fn is_no_space(error: &Error) -> bool {
    matches!(error, Error::Io(e) if e.raw_os_error() == Some(28))
}

/// Fetches `chunks` in batches, in order, into `sink`; the next batch is asked for while one
/// arrives. Reports progress about once a second.
async fn fetch(
    agent: &Agent,
    item: &WorkItem,
    version: &VersionRef,
    chunks: &[ChunkRef],
    tally: &Tally,
    sink: tokio::sync::mpsc::Sender<(ChunkRef, ChunkData)>,
) -> Result<()> {
    let mut batches = Vec::new();
    let mut batch_start = 0;
    while batch_start < chunks.len() {
        let mut end = batch_start;
        let mut bytes = 0u64;
        while end < chunks.len()
            && end - batch_start < MAX_CHUNKS_PER_REQUEST
            && (bytes < BATCH_BYTES || end == batch_start)
        {
            bytes += u64::from(chunks[end].size);
            end += 1;
        }
        batches.push(&chunks[batch_start..end]);
        batch_start = end;
    }
    let ask = |batch: &[ChunkRef]| {
        let client = agent.client.clone();
        let request = ChunksRequest {
            assignment_id: item.assignment_id,
            chunks: batch.iter().map(|c| c.sha256.clone()).collect(),
        };
        AbortOnDrop(tokio::spawn(async move { client.chunks(&request).await }))
    };
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut next = batches.first().map(|b| ask(b));
    for (index, batch) in batches.iter().enumerate() {
        let Some(asked) = next.take() else { break };
        let mut frames = asked.join().await?;
        let mut frame = Bytes::new();
        next = batches.get(index + 1).map(|b| ask(b));
        for chunk in *batch {
            agent.limiter.take(u64::from(chunk.size)).await;
            let data = read_chunk(&mut frames, &mut frame, chunk.size as usize).await?;
            tally
                .received
                .fetch_add(u64::from(chunk.size), Ordering::Relaxed);
            if sink.send((chunk.clone(), data)).await.is_err() {
                // The assembler stopped; its error says why.
                return Ok(());
            }
            if last_report.elapsed() >= PROGRESS_EVERY {
                let done_now = tally.received.load(Ordering::Relaxed);
                let needed = tally.needed.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64().max(0.001);
                let rate = (done_now as f64 / secs) as u64;
                agent
                    .send_report(&progress(item, version, needed, done_now, Some(rate)))
                    .await;
                last_report = Instant::now();
            }
        }
    }
    Ok(())
}

/// The next `size` bytes of a chunks response: slices of its frames (`frame` holds what is
/// left of the current one), nothing copied.
async fn read_chunk(
    frames: &mut super::ChunkStream,
    frame: &mut Bytes,
    size: usize,
) -> Result<ChunkData> {
    use futures::StreamExt;
    let broke =
        |e: std::io::Error| Error::Conflict(format!("the transfer from the site broke off: {e}"));
    let mut parts = Vec::new();
    let mut missing = size;
    while missing > 0 {
        if frame.is_empty() {
            *frame = match frames.next().await {
                Some(next) => next.map_err(broke)?,
                None => return Err(broke(std::io::ErrorKind::UnexpectedEof.into())),
            };
            continue;
        }
        let part = frame.split_to(missing.min(frame.len()));
        missing -= part.len();
        parts.push(part);
    }
    Ok(ChunkData::new(parts))
}

/// A request for chunks under way, given up when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<Result<super::ChunkStream>>);

impl AbortOnDrop {
    async fn join(mut self) -> Result<super::ChunkStream> {
        (&mut self.0)
            .await
            .map_err(|e| Error::Internal(format!("a DP task stopped: {e}")))?
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
