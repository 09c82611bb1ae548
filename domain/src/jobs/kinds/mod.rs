//! The job kinds Wimdeck ships. Each later capability adds its own.

mod prune_jobs;
mod storage_check;

pub use prune_jobs::PruneJobs;
pub use storage_check::StorageCheck;

use std::sync::Arc;

use super::JobKind;

/// The kinds registered in every installation.
pub fn builtin() -> Vec<Arc<dyn JobKind>> {
    vec![Arc::new(StorageCheck), Arc::new(PruneJobs)]
}
