//! Progress of long work (a job, a WIM write): cheap to report from a hot loop (one atomic add), sampled a few
//! times a second into a [`ProgressSnapshot`] with rate and ETA.

use std::sync::{
    Mutex,
    atomic::{AtomicU8, AtomicU64, Ordering},
};

use serde::{Deserialize, Serialize};

/// What `done` and `total` count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ProgressUnit {
    #[default]
    Items,
    Bytes,
}

const NO_TOTAL: u64 = u64::MAX;

/// The live progress of one job; shared with the threads doing the work.
#[derive(Debug)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
    unit: AtomicU8,
    phase: Mutex<String>,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            done: AtomicU64::new(0),
            total: AtomicU64::new(NO_TOTAL),
            unit: AtomicU8::new(0),
            phase: Mutex::new(String::new()),
        }
    }
}

impl Progress {
    /// Names the current step ("Writing", "Verifying" …).
    pub fn set_phase(&self, phase: impl Into<String>) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = phase.into();
    }

    /// Sets the amount of work and restarts the count.
    pub fn start(&self, total: Option<u64>, unit: ProgressUnit) {
        self.unit.store(unit as u8, Ordering::Relaxed);
        self.total
            .store(total.unwrap_or(NO_TOTAL), Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
    }

    /// Adds to the work done. Cheap enough to call for every buffer.
    pub fn advance(&self, amount: u64) {
        self.done.fetch_add(amount, Ordering::Relaxed);
    }

    pub fn set_done(&self, done: u64) {
        self.done.store(done, Ordering::Relaxed);
    }

    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }

    fn raw(&self) -> (String, u64, Option<u64>, ProgressUnit) {
        let total = self.total.load(Ordering::Relaxed);
        let unit = if self.unit.load(Ordering::Relaxed) == ProgressUnit::Bytes as u8 {
            ProgressUnit::Bytes
        } else {
            ProgressUnit::Items
        };
        (
            self.phase.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            self.done.load(Ordering::Relaxed),
            (total != NO_TOTAL).then_some(total),
            unit,
        )
    }
}

/// Progress as shown to a user at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ProgressSnapshot {
    pub phase: String,
    pub done: u64,
    pub total: Option<u64>,
    pub unit: ProgressUnit,
    /// 0–100 when the total is known.
    pub percent: Option<f64>,
    /// Units per second, smoothed.
    pub rate_per_sec: Option<f64>,
    pub eta_secs: Option<u64>,
}

/// Turns successive readings of a [`Progress`] into snapshots with a smoothed rate.
#[derive(Debug, Default)]
pub(crate) struct Sampler {
    last: Option<(i64, u64)>,
    rate: Option<f64>,
}

impl Sampler {
    /// Weight of the newest reading in the moving average.
    const SMOOTHING: f64 = 0.3;

    pub(crate) fn sample(&mut self, progress: &Progress, now_ms: i64) -> ProgressSnapshot {
        let (phase, done, total, unit) = progress.raw();
        if let Some((then_ms, then_done)) = self.last {
            let elapsed = (now_ms - then_ms) as f64 / 1000.0;
            if elapsed >= 0.1 {
                let instant = done.saturating_sub(then_done) as f64 / elapsed;
                self.rate = Some(match self.rate {
                    Some(r) if done >= then_done => r + Self::SMOOTHING * (instant - r),
                    _ => instant,
                });
                self.last = Some((now_ms, done));
            }
        } else {
            self.last = Some((now_ms, done));
        }
        let percent = total
            .filter(|t| *t > 0)
            .map(|t| (done as f64 / t as f64 * 100.0).min(100.0));
        let eta_secs = match (total, self.rate) {
            (Some(t), Some(r)) if r > 0.0 && t >= done => {
                Some(((t - done) as f64 / r).ceil() as u64)
            }
            _ => None,
        };
        ProgressSnapshot {
            phase,
            done,
            total,
            unit,
            percent,
            rate_per_sec: self.rate,
            eta_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_have_percent_rate_and_eta() {
        let p = Progress::default();
        p.set_phase("Copying");
        p.start(Some(1000), ProgressUnit::Bytes);
        let mut s = Sampler::default();
        let first = s.sample(&p, 0);
        assert_eq!(first.percent, Some(0.0));
        assert_eq!(first.rate_per_sec, None);
        p.advance(100);
        let second = s.sample(&p, 1000);
        assert_eq!(second.phase, "Copying");
        assert_eq!(second.percent, Some(10.0));
        assert_eq!(second.rate_per_sec, Some(100.0));
        assert_eq!(second.eta_secs, Some(9));
        assert_eq!(second.unit, ProgressUnit::Bytes);
    }

    #[test]
    fn unknown_totals_have_no_percent() {
        let p = Progress::default();
        p.advance(5);
        let snap = Sampler::default().sample(&p, 0);
        assert_eq!(
            (snap.done, snap.total, snap.percent, snap.eta_secs),
            (5, None, None, None)
        );
    }
}
