//! The one-time setup link printed when no user exists yet.

use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

/// Holds the hash of the current setup token, if one was issued and not yet used.
#[derive(Debug, Default)]
pub(crate) struct SetupToken {
    current: Mutex<Option<[u8; 32]>>,
}

impl SetupToken {
    /// Replaces any earlier token with a new one and returns it.
    pub(crate) async fn issue(&self) -> String {
        let token = super::random_token();
        *self.current.lock().await = Some(Sha256::digest(token.as_bytes()).into());
        token
    }

    /// Holds the lock while `f` runs and forgets the token if `f` succeeds, so a token works
    /// exactly once even under concurrent use. `None` when the token does not match.
    pub(crate) async fn redeem<T, E, F>(&self, token: &str, f: F) -> Option<Result<T, E>>
    where
        F: Future<Output = Result<T, E>>,
    {
        let mut current = self.current.lock().await;
        let given: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let expected = (*current)?;
        // Compare hashes, not tokens: no early exit on the secret's bytes.
        if given != expected {
            return None;
        }
        let result = f.await;
        if result.is_ok() {
            *current = None;
        }
        Some(result)
    }
}
