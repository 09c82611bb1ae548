//! The wire contract: view types and server functions, one module per area.
//!
//! Every server function has an explicit, stable endpoint under `/api/` (automation relies on
//! them). Each one starts by resolving the caller ([`ssr::actor`]); only those listed in
//! [`PUBLIC_ENDPOINTS`] may be called without a session, and the server refuses every other one
//! with 401 before it runs.

pub mod boot;
pub mod dashboard;
pub mod distribution;
pub mod drivers;
pub mod images;
pub mod jobs;
pub mod security;
pub mod session;
pub mod uploads;

#[cfg(feature = "ssr")]
pub mod permissions;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::server_fn::ServerFn;

/// Server functions callable without a session: signing in and first-run setup.
pub const PUBLIC_ENDPOINTS: &[&str] = &[
    <session::SignIn as ServerFn>::PATH,
    <session::CompleteSetup as ServerFn>::PATH,
];
