//! Drivers: the INF reader first; the driver catalog and injection into boot images build on
//! it.

pub mod inf;
