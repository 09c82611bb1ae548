//! One module per console area.

pub mod dashboard;
pub mod distribution;
pub mod drivers;
pub mod images;
pub mod jobs;
pub mod not_found;
pub mod security;
pub mod setup;
pub mod sign_in;
