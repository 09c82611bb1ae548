//! Validating what a DP holds: every file and chunk hashed against the manifest.

use std::{fs::File, io::Read, path::Path};

use sha2::{Digest, Sha256};

use super::{
    Agent,
    transfer::{blocking, manifest_of},
};
use crate::{
    Result,
    content::{Manifest, manifest::sha256_hex},
    distribution::protocol::{ReportedState, StatusReport, WorkItem},
};

/// Hashes every file and chunk of the version in use and reports what does not match.
pub(super) async fn validate(agent: &Agent, item: &WorkItem) -> Result<StatusReport> {
    let version = item
        .version
        .clone()
        .ok_or_else(|| crate::Error::Internal("a validation without a version".into()))?;
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
