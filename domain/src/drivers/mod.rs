//! Drivers: the INF reader, driver packages (folders and archives), catalog signatures and
//! the driver catalog. (Boot images take drivers through their recipe: [`crate::boot`].)

pub mod analyze;
pub mod catalog;
pub mod der;
pub mod import;
pub mod inf;
pub mod package;
pub mod signing;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::jobs::JobKind;

/// The drivers' job kinds, for registration.
pub fn job_kinds() -> Vec<Arc<dyn JobKind>> {
    vec![Arc::new(import::ImportDrivers)]
}
