//! Pieces shared by the console's pages.

pub mod error;
pub mod layout;
