//! Installing a version on a DP (fetch what is missing, assemble, verify, switch) and
//! validating what a DP holds.

use std::{
    collections::{HashMap, HashSet},
    fs::{self, File},
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
    sync::Arc,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::{Agent, Installed};
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

/// Where a chunk can be read locally: a file of the version in use, at an offset.
#[derive(Debug, Clone)]
struct LocalCopy {
    file: PathBuf,
    offset: u64,
}

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

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("a DP task stopped: {e}")))?
}

/// The manifest of a version: from the DP's own copy, or fetched and kept.
async fn manifest_of(agent: &Agent, item: &WorkItem, version: &VersionRef) -> Result<Manifest> {
    let path = agent
        .layout
        .manifest_path(item.content_id, &version.manifest_sha256);
    if let Ok(bytes) = fs::read(&path)
        && sha256_hex(&bytes) == version.manifest_sha256
        && let Ok(manifest) = Manifest::parse(&bytes)
    {
        return Ok(manifest);
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

/// Installs the item's version: fetches the chunks neither the version in use nor the cache
/// has, assembles every file under the staging folder, checks it against the manifest, then
/// switches to it.
pub(super) async fn install(agent: &Agent, item: &WorkItem) -> Result<StatusReport> {
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
        return Ok(done(item, &version, 0));
    }
    let manifest = manifest_of(agent, item, &version).await?;
    let cache = layout.cache();
    let copies = if item.differential {
        local_copies(agent, item.content_id)
    } else {
        HashMap::new()
    };
    let chunks = manifest.distinct_chunks();
    // Chunks present locally (checked when read; a bad one is fetched then).
    let missing: Vec<ChunkRef> = {
        let cache = cache.clone();
        let copies: HashSet<String> = copies.keys().cloned().collect();
        let chunks = chunks.clone();
        let differential = item.differential;
        blocking(move || {
            let mut missing = Vec::new();
            for chunk in chunks {
                let local =
                    copies.contains(&chunk.sha256) || (differential && cache.has_chunk(&chunk)?);
                if !local {
                    missing.push(chunk);
                }
            }
            Ok(missing)
        })
        .await?
    };
    let needed: u64 = missing.iter().map(|c| u64::from(c.size)).sum();
    agent
        .send_report(&progress(item, &version, needed, 0, None))
        .await;
    let received = AtomicU64::new(0);

    // Files are assembled while their chunks arrive: the assembler takes each chunk as soon as
    // the fetcher has it in the cache (both walk the manifest in order).
    let staging = layout.staging_dir(item.content_id, &folder);
    let arrivals = Arc::new(Arrivals::default());
    {
        let missing: HashSet<&str> = missing.iter().map(|c| c.sha256.as_str()).collect();
        arrivals.add(
            chunks
                .iter()
                .filter(|c| !missing.contains(c.sha256.as_str()))
                .map(|c| c.sha256.clone()),
        );
    }
    let assembler = {
        let cache = cache.clone();
        let manifest = manifest.clone();
        let staging = staging.clone();
        let copies = copies.clone();
        let arrivals = arrivals.clone();
        tokio::task::spawn_blocking(move || {
            assemble(&manifest, &staging, &copies, &cache, Some(&arrivals))
        })
    };
    let fetched = fetch(
        agent, item, &version, &missing, needed, &received, &arrivals,
    )
    .await;
    if fetched.is_err() {
        arrivals.fail();
    }
    let result = assembler
        .await
        .map_err(|e| Error::Internal(format!("a DP task stopped: {e}")))?;
    fetched?;
    let refetch = match result {
        Ok(refetch) => refetch,
        Err(e) => {
            if is_no_space(&e) {
                // Free what the attempt took; the version in use stays as it was.
                let _ = fs::remove_dir_all(&staging);
                return Err(Error::Conflict(format!(
                    "the DP ran out of disk space assembling version {} ({} bytes needed, {} free); the version in use is intact",
                    version.number,
                    version.total_bytes,
                    layout.free_bytes()
                )));
            }
            return Err(e);
        }
    };
    if !refetch.is_empty() {
        // Local chunks that turned out damaged: fetch them and assemble again.
        let extra: u64 = refetch.iter().map(|c| u64::from(c.size)).sum();
        let all = Arc::new(Arrivals::default());
        fetch(
            agent,
            item,
            &version,
            &refetch,
            needed + extra,
            &received,
            &all,
        )
        .await?;
        let cache = cache.clone();
        let manifest = manifest.clone();
        let staging = staging.clone();
        let left = blocking(move || assemble(&manifest, &staging, &copies, &cache, None)).await?;
        if !left.is_empty() {
            return Err(Error::Conflict(format!(
                "{} chunks stayed damaged after they were fetched again",
                left.len()
            )));
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
    // Chunks now in files are no longer needed in the cache.
    {
        let cache = cache.clone();
        blocking(move || {
            for chunk in &chunks {
                cache.remove_chunk(&chunk.sha256)?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(done(item, &version, received.load(Ordering::Relaxed)))
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

/// Fetches `chunks` into the cache in batches, each checked against its hash as it arrives;
/// reports progress about once a second.
async fn fetch(
    agent: &Agent,
    item: &WorkItem,
    version: &VersionRef,
    chunks: &[ChunkRef],
    needed: u64,
    received: &AtomicU64,
    arrivals: &Arrivals,
) -> Result<()> {
    let cache = agent.layout.cache();
    let started = Instant::now();
    let mut last_report = Instant::now();
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
        let batch = &chunks[batch_start..end];
        let request = ChunksRequest {
            assignment_id: item.assignment_id,
            chunks: batch.iter().map(|c| c.sha256.clone()).collect(),
        };
        let mut reader = agent.client.chunks(&request).await?;
        for chunk in batch {
            agent.limiter.take(u64::from(chunk.size)).await;
            let mut data = vec![0u8; chunk.size as usize];
            reader.read_exact(&mut data).await.map_err(|e| {
                Error::Conflict(format!("the transfer from the site broke off: {e}"))
            })?;
            let size = u64::from(chunk.size);
            let cache = cache.clone();
            let arrived = chunk.clone();
            blocking(move || cache.cache_chunk(&arrived, &data)).await?;
            arrivals.add(std::iter::once(chunk.sha256.clone()));
            received.fetch_add(size, Ordering::Relaxed);
        }
        let done_now = received.load(Ordering::Relaxed);
        if last_report.elapsed() >= PROGRESS_EVERY {
            let secs = started.elapsed().as_secs_f64().max(0.001);
            let rate = (done_now as f64 / secs) as u64;
            agent
                .send_report(&progress(item, version, needed, done_now, Some(rate)))
                .await;
            last_report = Instant::now();
        }
        batch_start = end;
    }
    Ok(())
}

/// Writes every file of the manifest into `staging` from local chunks (each checked against
/// its hash), checks each file's SHA-256, and renames it to its final name there. A file
/// already complete in `staging` (an earlier attempt) is checked and kept. Returns the chunks
/// that could not be found whole locally (nothing is renamed for their files).
fn assemble(
    manifest: &Manifest,
    staging: &Path,
    copies: &HashMap<String, LocalCopy>,
    cache: &crate::content::ChunkStore,
    arrivals: Option<&Arrivals>,
) -> Result<Vec<ChunkRef>> {
    fs::create_dir_all(staging)?;
    let mut bad: Vec<ChunkRef> = Vec::new();
    for file in &manifest.files {
        let target = staging.join(&file.path);
        if target.exists()
            && fs::metadata(&target).map(|m| m.len()).ok() == Some(file.size)
            && crate::fsx::sha256_file(&target)? == file.sha256
        {
            continue;
        }
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir)?;
        }
        // Chunks fetched in this run were checked as they arrived: the file's hash covers
        // them. Only when it differs is each chunk checked, to find the damaged ones.
        let mut missing = Vec::new();
        let mut output =
            assemble_file(file, &target, copies, cache, arrivals, false, &mut missing)?;
        if output.is_none() && missing.is_empty() {
            output = assemble_file(file, &target, copies, cache, None, true, &mut missing)?;
        }
        match output {
            Some(output) => {
                if target.exists() {
                    fs::remove_file(&target)?;
                }
                output.persist()?;
            }
            None if missing.is_empty() => {
                return Err(Error::Conflict(format!(
                    "{} does not assemble to the manifest's SHA-256 {}",
                    file.path, file.sha256
                )));
            }
            None => bad.extend(missing),
        }
    }
    bad.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    bad.dedup();
    Ok(bad)
}

/// Writes one file from local chunks; `Some` when it matches its SHA-256. Chunks that cannot
/// be read whole go to `missing` (then the file is not finished).
fn assemble_file(
    file: &crate::content::ManifestFile,
    target: &Path,
    copies: &HashMap<String, LocalCopy>,
    cache: &crate::content::ChunkStore,
    arrivals: Option<&Arrivals>,
    verify: bool,
    missing: &mut Vec<ChunkRef>,
) -> Result<Option<crate::fsx::TempOutput>> {
    let mut open: HashMap<PathBuf, File> = HashMap::new();
    let mut output = crate::fsx::TempOutput::create(target)?;
    let mut hasher = Sha256::new();
    for chunk in &file.chunks {
        if let Some(arrivals) = arrivals {
            arrivals.wait_for(&chunk.sha256)?;
        }
        let bytes = match read_local(chunk, copies, cache, &mut open, verify) {
            Some(bytes) => bytes,
            None => {
                missing.push(chunk.clone());
                continue;
            }
        };
        hasher.update(&bytes);
        output.file().write_all(&bytes)?;
    }
    if !missing.is_empty() || hex::encode(hasher.finalize()) != file.sha256 {
        return Ok(None);
    }
    Ok(Some(output))
}

/// Which chunks are in the cache (or found locally) so far, for the assembler to wait on.
#[derive(Default)]
struct Arrivals {
    state: Mutex<(HashSet<String>, bool)>,
    changed: std::sync::Condvar,
}

impl Arrivals {
    fn add(&self, shas: impl Iterator<Item = String>) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0.extend(shas);
        self.changed.notify_all();
    }

    /// The fetch stopped: the assembler stops waiting.
    fn fail(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.changed.notify_all();
    }

    fn wait_for(&self, sha: &str) -> Result<()> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if state.0.contains(sha) {
                return Ok(());
            }
            if state.1 {
                return Err(Error::Conflict("the transfer stopped".into()));
            }
            state = self
                .changed
                .wait_timeout(state, Duration::from_secs(1))
                .map(|(s, _)| s)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

/// A chunk's bytes from the version in use (checked against its hash) or the cache (checked
/// when `verify`; otherwise only its size, the file's hash covering the rest).
fn read_local(
    chunk: &ChunkRef,
    copies: &HashMap<String, LocalCopy>,
    cache: &crate::content::ChunkStore,
    open: &mut HashMap<PathBuf, File>,
    verify: bool,
) -> Option<Vec<u8>> {
    if let Some(copy) = copies.get(&chunk.sha256) {
        if !open.contains_key(&copy.file)
            && let Ok(file) = File::open(&copy.file)
        {
            open.insert(copy.file.clone(), file);
        }
        if let Some(file) = open.get_mut(&copy.file) {
            let mut bytes = vec![0u8; chunk.size as usize];
            if file.seek(SeekFrom::Start(copy.offset)).is_ok()
                && file.read_exact(&mut bytes).is_ok()
                && sha256_hex(&bytes) == chunk.sha256
            {
                return Some(bytes);
            }
        }
    }
    let read = if verify {
        cache.read_chunk(chunk).ok()
    } else {
        fs::read(cache.chunk_path(&chunk.sha256))
            .ok()
            .filter(|b| b.len() == chunk.size as usize)
    };
    if read.is_none() {
        let _ = cache.remove_chunk(&chunk.sha256);
    }
    read
}

/// Hashes every file and chunk of the version in use and reports what does not match.
pub(super) async fn validate(agent: &Agent, item: &WorkItem) -> Result<StatusReport> {
    let version = item
        .version
        .clone()
        .ok_or_else(|| Error::Internal("a validation without a version".into()))?;
    let layout = agent.layout.clone();
    let installed = layout.installed(item.content_id)?;
    let report = |state, detail| StatusReport {
        assignment_id: item.assignment_id,
        generation: item.generation,
        state,
        version_id: Some(version.id),
        bytes_total: Some(version.total_bytes),
        bytes_needed: None,
        bytes_done: 0,
        rate_bps: None,
        detail,
    };
    let Some((_, dir)) = installed.filter(|(i, _)| i.version_id == version.id) else {
        return Ok(report(
            ReportedState::Invalid,
            Some(format!("version {} is not on this DP", version.number)),
        ));
    };
    let manifest = manifest_of(agent, item, &version).await?;
    let problems = blocking(move || Ok(check_files(&manifest, &dir))).await?;
    Ok(if problems.is_empty() {
        report(ReportedState::Valid, None)
    } else {
        report(ReportedState::Invalid, Some(problems.join("\n")))
    })
}

/// What differs between the files in `dir` and the manifest, one line per file.
fn check_files(manifest: &Manifest, dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for file in &manifest.files {
        let path = dir.join(&file.path);
        let mut handle = match File::open(&path) {
            Ok(handle) => handle,
            Err(_) => {
                problems.push(format!("{}: missing", file.path));
                continue;
            }
        };
        let size = handle.metadata().map(|m| m.len()).unwrap_or(0);
        if size != file.size {
            problems.push(format!(
                "{}: {size} bytes, the manifest says {}",
                file.path, file.size
            ));
            continue;
        }
        let mut hasher = Sha256::new();
        let mut damaged = 0usize;
        for chunk in &file.chunks {
            let mut bytes = vec![0u8; chunk.size as usize];
            if handle.read_exact(&mut bytes).is_err() || sha256_hex(&bytes) != chunk.sha256 {
                damaged += 1;
            }
            hasher.update(&bytes);
        }
        if damaged > 0 || hex::encode(hasher.finalize()) != file.sha256 {
            problems.push(format!(
                "{}: SHA-256 differs ({damaged} of {} chunks damaged)",
                file.path,
                file.chunks.len()
            ));
        }
    }
    problems
}
