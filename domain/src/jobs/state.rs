//! The job state machine.
//!
//! ```text
//! queued ──claim──▶ running ──▶ succeeded | failed | cancelled
//!   │                  │
//!   └──cancel──▶ cancelled   lease lost / released / transient failure:
//!                          ├─ retry-safe with attempts left ──▶ queued
//!                          └─ otherwise ──────────────────────▶ interrupted
//! ```
//! Succeeded, failed, cancelled and interrupted are final.

use serde::{Deserialize, Serialize};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    Interrupted,
}

impl JobState {
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
        JobState::Interrupted,
    ];

    /// The states of a job that is not over: it holds its object.
    pub const ACTIVE: [JobState; 2] = [JobState::Queued, JobState::Running];

    /// The stored (and URL) name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Interrupted => "interrupted",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The name shown in the console.
    pub fn label(self) -> &'static str {
        match self {
            JobState::Queued => "Queued",
            JobState::Running => "Running",
            JobState::Succeeded => "Succeeded",
            JobState::Failed => "Failed",
            JobState::Cancelled => "Cancelled",
            JobState::Interrupted => "Interrupted",
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }

    /// Whether the machine allows `self → next`.
    pub fn can_become(self, next: JobState) -> bool {
        use JobState::*;
        match self {
            Queued => matches!(next, Running | Cancelled),
            Running => matches!(next, Succeeded | Failed | Cancelled | Interrupted | Queued),
            Succeeded | Failed | Cancelled | Interrupted => false,
        }
    }

    /// Whether a user may ask for the job to be run again.
    pub fn can_retry(self) -> bool {
        matches!(
            self,
            JobState::Failed | JobState::Cancelled | JobState::Interrupted
        )
    }
}

/// What becomes of a running job whose attempt ended without a result (worker died, lease
/// expired, server shutting down, transient failure): it runs again only if its kind is safe to
/// retry and attempts are left.
pub(crate) fn after_unfinished_attempt(
    retry_safe: bool,
    attempts: i32,
    max_attempts: i32,
) -> JobState {
    if retry_safe && attempts < max_attempts {
        JobState::Queued
    } else {
        JobState::Interrupted
    }
}

/// Delay before attempt `attempts + 1`: doubling from 2 s, at most 5 minutes.
pub(crate) fn retry_backoff_ms(attempts: i32) -> i64 {
    let exponent = u32::try_from(attempts.clamp(0, 8)).unwrap_or(0);
    (2_000_i64 << exponent).min(300_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobState::*;

    #[test]
    fn names_round_trip() {
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
        }
        assert_eq!(JobState::parse("done"), None);
    }

    #[test]
    fn final_states_go_nowhere() {
        for from in JobState::ALL.into_iter().filter(|s| s.is_final()) {
            for to in JobState::ALL {
                assert!(!from.can_become(to), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn the_allowed_transitions() {
        assert!(Queued.can_become(Running));
        assert!(Queued.can_become(Cancelled));
        assert!(!Queued.can_become(Succeeded), "a job must run to succeed");
        assert!(!Queued.can_become(Interrupted));
        for to in [Succeeded, Failed, Cancelled, Interrupted, Queued] {
            assert!(Running.can_become(to));
        }
        assert!(!Running.can_become(Running));
    }

    #[test]
    fn unfinished_attempts_retry_only_when_safe_and_allowed() {
        assert_eq!(after_unfinished_attempt(true, 1, 3), Queued);
        assert_eq!(after_unfinished_attempt(true, 3, 3), Interrupted);
        assert_eq!(after_unfinished_attempt(false, 1, 3), Interrupted);
        for s in [
            after_unfinished_attempt(true, 1, 3),
            after_unfinished_attempt(false, 1, 3),
        ] {
            assert!(Running.can_become(s));
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(retry_backoff_ms(0), 2_000);
        assert_eq!(retry_backoff_ms(1), 4_000);
        assert_eq!(retry_backoff_ms(50), 300_000);
        assert_eq!(retry_backoff_ms(-1), 2_000);
    }

    #[test]
    fn retry_is_offered_for_unsuccessful_final_states() {
        assert!(Failed.can_retry() && Cancelled.can_retry() && Interrupted.can_retry());
        assert!(!Succeeded.can_retry() && !Running.can_retry() && !Queued.can_retry());
    }
}
