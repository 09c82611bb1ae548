//! Drivers: the INF reader, driver packages (folders and archives), catalog signatures, the
//! driver catalog and injection into boot images.

pub mod analyze;
pub mod boot;
pub mod catalog;
pub mod der;
pub mod import;
pub mod inf;
pub mod package;
pub mod signing;
pub mod unattend;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::jobs::JobKind;

/// The drivers' job kinds, for registration.
pub fn job_kinds() -> Vec<Arc<dyn JobKind>> {
    vec![
        Arc::new(import::ImportDrivers),
        Arc::new(boot::ApplyDrivers),
    ]
}
