//! Drivers: the INF reader, driver packages (folders and archives), catalog signatures, the
//! driver catalog and injection into boot images.

pub mod analyze;
pub mod der;
pub mod inf;
pub mod package;
pub mod signing;

#[cfg(test)]
mod tests;
