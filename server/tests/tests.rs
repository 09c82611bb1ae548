//! Server integration tests.
