//! The start-up sweep of the content library and of the prestaged files' folder. A version's
//! chunks and manifest are renamed into place before its row commits, and a prestaged file
//! before its job ends, so what a killed job leaves is only temporary files (and chunks no
//! version names yet, which the collect job removes with the others).

use std::{fs, path::PathBuf};

use crate::{Domain, Result, fsx::TEMP_MARK};

/// Removes the temporary files of writes that never finished, but those of jobs still queued
/// or running (in this database's view: they may resume). Run while no job runs here.
pub async fn sweep(domain: &Domain) -> Result<Vec<PathBuf>> {
    let store = domain.content().store();
    let mut dirs = vec![
        store.root().join("manifests"),
        crate::distribution::prestage::folder(domain.config()),
    ];
    if let Ok(entries) = fs::read_dir(store.chunks_dir()) {
        dirs.extend(
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path()),
        );
    }
    let mut removed = Vec::new();
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.contains(TEMP_MARK) {
                continue;
            }
            if let Some(job) = crate::fsx::temp_file_job(&name)
                && crate::catalog::store::job_active(domain.db(), job).await?
            {
                continue;
            }
            fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    Ok(removed)
}
