//! Throttling of failed sign-ins, per user name *from an address* and per source address.
//!
//! After a few failures inside a window, further attempts are refused for a lock that doubles
//! with each failure, up to a cap. Two counters, chosen so that neither is a lever for an
//! attacker:
//! - per name and address: guessing one account's password from an address locks that account
//!   for that address only, so nobody can lock the real owner out from elsewhere by typing
//!   wrong passwords for their name;
//! - per address, over every name: it is never cleared by a success, so an attacker who holds
//!   one valid account cannot reset it between guesses at others.
//!
//! Kept in memory: a restart forgives, which is acceptable for one server and keeps the hot
//! path free of writes.

use std::{collections::HashMap, sync::Mutex};

const WINDOW_MS: i64 = 15 * 60_000;
const BASE_LOCK_MS: i64 = 30_000;
const MAX_LOCK_MS: i64 = 15 * 60_000;
/// Bound on tracked keys, so a flood of made-up names cannot grow memory without limit.
const MAX_KEYS: usize = 50_000;

/// What a failure counts against.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Key<'a> {
    /// A user name (its case-folded key) tried from one source address.
    UserFrom { user: &'a str, addr: &'a str },
    /// A source address, over every name tried from it.
    Address(&'a str),
}

impl Key<'_> {
    fn limit(self) -> u32 {
        match self {
            Key::UserFrom { .. } => 5,
            // An office behind one NAT address shares this one.
            Key::Address(_) => 20,
        }
    }

    fn text(self) -> String {
        match self {
            // Neither part can contain a newline (names refuse control characters; addresses
            // are parsed), so the pair is unambiguous.
            Key::UserFrom { user, addr } => format!("user:{user}\n{addr}"),
            Key::Address(a) => format!("addr:{a}"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure_ms: i64,
    locked_until_ms: i64,
}

#[derive(Debug, Default)]
pub(crate) struct SignInThrottle {
    entries: Mutex<HashMap<String, Entry>>,
}

impl SignInThrottle {
    /// `Err(seconds to wait)` when any key is locked now.
    pub(crate) fn check(&self, keys: &[Key<'_>], now_ms: i64) -> Result<(), u64> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let wait_ms = keys
            .iter()
            .filter_map(|k| entries.get(&k.text()))
            .map(|e| e.locked_until_ms - now_ms)
            .max()
            .unwrap_or(0);
        if wait_ms > 0 {
            Err(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1))
        } else {
            Ok(())
        }
    }

    pub(crate) fn record_failure(&self, key: Key<'_>, now_ms: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_KEYS {
            entries.retain(|_, e| {
                now_ms - e.last_failure_ms < WINDOW_MS || e.locked_until_ms > now_ms
            });
        }
        let entry = entries.entry(key.text()).or_insert(Entry {
            failures: 0,
            last_failure_ms: now_ms,
            locked_until_ms: 0,
        });
        if now_ms - entry.last_failure_ms >= WINDOW_MS && entry.locked_until_ms <= now_ms {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure_ms = now_ms;
        let limit = key.limit();
        if entry.failures >= limit {
            let doublings = (entry.failures - limit).min(10);
            let lock = (BASE_LOCK_MS << doublings).min(MAX_LOCK_MS);
            entry.locked_until_ms = now_ms + lock;
        }
    }

    pub(crate) fn clear(&self, key: Key<'_>) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key.text());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from<'a>(user: &'a str, addr: &'a str) -> Key<'a> {
        Key::UserFrom { user, addr }
    }

    #[test]
    fn locks_after_the_limit_and_doubles() {
        let t = SignInThrottle::default();
        let user = from("admin", "10.0.0.1");
        for i in 0..4 {
            t.record_failure(user, i * 1000);
            assert!(t.check(&[user], i * 1000).is_ok());
        }
        t.record_failure(user, 5_000);
        assert_eq!(t.check(&[user], 5_000), Err(30));
        assert!(t.check(&[user], 35_000).is_ok());
        t.record_failure(user, 35_000);
        assert_eq!(t.check(&[user], 35_000), Err(60));
    }

    #[test]
    fn lock_is_capped_and_window_forgives() {
        let t = SignInThrottle::default();
        let user = from("admin", "10.0.0.1");
        for _ in 0..30 {
            t.record_failure(user, 0);
        }
        assert_eq!(t.check(&[user], 0), Err(15 * 60));
        // Long after the lock and the window, the count starts again.
        let later = 2 * WINDOW_MS;
        t.record_failure(user, later);
        assert!(t.check(&[user], later).is_ok());
    }

    #[test]
    fn a_name_is_locked_only_for_the_address_that_failed() {
        let t = SignInThrottle::default();
        for _ in 0..5 {
            t.record_failure(from("a", "10.0.0.1"), 0);
        }
        assert!(t.check(&[from("a", "10.0.0.1")], 0).is_err());
        assert!(t.check(&[from("a", "10.0.0.2")], 0).is_ok());
        assert!(t.check(&[from("b", "10.0.0.1")], 0).is_ok());
        t.clear(from("a", "10.0.0.1"));
        assert!(t.check(&[from("a", "10.0.0.1")], 0).is_ok());
    }

    #[test]
    fn the_address_counter_spans_names() {
        let t = SignInThrottle::default();
        for i in 0..20 {
            t.record_failure(Key::Address("10.0.0.9"), i);
        }
        assert!(
            t.check(&[from("anyone", "10.0.0.9"), Key::Address("10.0.0.9")], 20)
                .is_err()
        );
        assert!(t.check(&[Key::Address("10.0.0.8")], 20).is_ok());
    }
}
