//! Storage check: writes a test file of a given size to the working directory, reads it back
//! and verifies its SHA-256, and reports both rates. Tells an admin whether the disk that WIM
//! servicing will use is healthy and how fast it is. The file never outlives the job.

use std::{
    io::{Read, Seek, SeekFrom, Write},
    time::Instant,
};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    Config, Error, Result,
    fsx::TempOutput,
    jobs::{BoxFuture, Completion, JobContext, JobError, JobKind, ProgressUnit},
};

pub struct StorageCheck;

const BLOCK: usize = 1 << 20;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    size_mib: u32,
}

/// What a finished check reports.
#[derive(Debug, Serialize, Deserialize)]
pub struct StorageCheckResult {
    pub bytes: u64,
    pub write_mib_per_sec: f64,
    pub read_mib_per_sec: f64,
    pub sha256: String,
    pub verified: bool,
}

impl JobKind for StorageCheck {
    fn name(&self) -> &'static str {
        "storage-check"
    }

    fn label(&self) -> &'static str {
        "Storage check"
    }

    fn retry_safe(&self) -> bool {
        true
    }

    fn validate(&self, params: Value, config: &Config) -> Result<Value> {
        let params: Params =
            serde_json::from_value(params).map_err(|e| Error::invalid("params", e.to_string()))?;
        let max = config.jobs.storage_check_max_mib;
        if params.size_mib == 0 || params.size_mib > max {
            return Err(Error::invalid(
                "size_mib",
                format!("must be between 1 and {max} MiB"),
            ));
        }
        Ok(json!({ "size_mib": params.size_mib }))
    }

    fn describe(&self, params: &Value) -> String {
        params
            .get("size_mib")
            .and_then(Value::as_u64)
            .map(|m| format!("{m} MiB"))
            .unwrap_or_default()
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, Result<Completion, JobError>> {
        Box::pin(async move {
            let params: Params = ctx.params()?;
            let dir = ctx.domain().config().work_dir();
            std::fs::create_dir_all(&dir)?;
            let target = dir.join(format!("storage-check-{}.bin", ctx.job_id()));
            ctx.info(format!(
                "Writing {} MiB to {}",
                params.size_mib,
                dir.display()
            ));
            let progress = ctx.progress().clone();
            let cancel = ctx.cancel_token();
            let job_id = ctx.job_id();
            let bytes = u64::from(params.size_mib) * BLOCK as u64;
            let outcome =
                tokio::task::spawn_blocking(move || -> Result<StorageCheckResult, JobError> {
                    let mut out = TempOutput::create_for(&target, Some(job_id))?;
                    progress.set_phase("Writing");
                    progress.start(Some(bytes * 2), ProgressUnit::Bytes);
                    let mut block = vec![0u8; BLOCK];
                    let mut seed = 0x9E37_79B9_7F4A_7C15_u64 ^ bytes;
                    let mut written_hash = Sha256::new();
                    let started = Instant::now();
                    for _ in 0..params.size_mib {
                        if cancel.is_cancelled() {
                            return Err(JobError::Cancelled);
                        }
                        fill(&mut block, &mut seed);
                        written_hash.update(&block);
                        out.file().write_all(&block)?;
                        progress.advance(BLOCK as u64);
                    }
                    out.file().sync_all()?;
                    let write_secs = started.elapsed().as_secs_f64();

                    progress.set_phase("Reading back and verifying");
                    out.file().seek(SeekFrom::Start(0))?;
                    let mut read_hash = Sha256::new();
                    let started = Instant::now();
                    loop {
                        if cancel.is_cancelled() {
                            return Err(JobError::Cancelled);
                        }
                        let n = read_full(out.file(), &mut block)?;
                        if n == 0 {
                            break;
                        }
                        read_hash.update(&block[..n]);
                        progress.advance(n as u64);
                    }
                    let read_secs = started.elapsed().as_secs_f64();
                    let expected = hex::encode(written_hash.finalize());
                    let actual = hex::encode(read_hash.finalize());
                    // `out` is dropped here: the test file is removed.
                    let mib = f64::from(params.size_mib);
                    Ok(StorageCheckResult {
                        bytes,
                        write_mib_per_sec: mib / write_secs.max(1e-9),
                        read_mib_per_sec: mib / read_secs.max(1e-9),
                        verified: expected == actual,
                        sha256: actual,
                    })
                })
                .await
                .map_err(|e| JobError::Failed(format!("the check stopped unexpectedly: {e}")))??;
            if !outcome.verified {
                return Err(JobError::Failed("the data read back differs from what was written: the disk or its driver corrupts data".into()));
            }
            ctx.info(format!(
                "Write {:.0} MiB/s, read back {:.0} MiB/s (reads may come from the page cache); content verified",
                outcome.write_mib_per_sec, outcome.read_mib_per_sec
            ));
            Ok(Completion::new(outcome))
        })
    }
}

/// Pseudo-random content (xorshift), so compression or deduplication cannot flatter the disk.
fn fill(block: &mut [u8], seed: &mut u64) {
    for chunk in block.chunks_exact_mut(8) {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        chunk.copy_from_slice(&seed.to_le_bytes());
    }
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}
