//! Pieces of the jobs pages: state badge, progress bar, periodic refresh, running indicator.

use std::time::Duration;

use leptos::prelude::*;

use crate::{
    api::jobs::{ProgressView, running_job_count},
    format,
};

/// The state as a coloured label.
#[component]
pub fn StateBadge(state: String, label: String) -> impl IntoView {
    view! { <span class=format!("badge state-{state}")>{label}</span> }
}

/// A progress bar with its figures: percent, phase, amounts, rate, time left.
#[component]
pub fn ProgressBar(progress: ProgressView, #[prop(optional)] compact: bool) -> impl IntoView {
    let amount = |n: u64| {
        if progress.bytes {
            format::bytes(n)
        } else {
            n.to_string()
        }
    };
    let mut parts = Vec::new();
    if let Some(p) = progress.percent {
        parts.push(format!("{p:.0}%"));
    }
    if !compact {
        if !progress.phase.is_empty() {
            parts.push(progress.phase.clone());
        }
        match progress.total {
            Some(total) => parts.push(format!("{} of {}", amount(progress.done), amount(total))),
            None => parts.push(amount(progress.done)),
        }
        if let Some(rate) = progress.rate_per_sec.filter(|r| *r > 0.0) {
            let per_sec = if progress.bytes {
                format!("{}/s", format::bytes(rate as u64))
            } else {
                format!("{rate:.0}/s")
            };
            parts.push(per_sec);
        }
        if let Some(eta) = progress.eta_secs {
            parts.push(format!("{} left", format::duration_secs(eta)));
        }
    }
    let value = progress.percent.unwrap_or(0.0);
    view! {
        <div class="progress">
            <progress max="100" value=format!("{value:.1}") aria-label="Progress"></progress>
            <span class="progress-text">{parts.join(" · ")}</span>
        </div>
    }
}

/// Calls `tick` every `period` in the browser (never during server rendering), until the
/// component goes away.
pub fn every(period: Duration, tick: impl Fn() + Clone + 'static) {
    Effect::new(move |_| {
        let tick = tick.clone();
        if let Ok(handle) = set_interval_with_handle(tick, period) {
            on_cleanup(move || handle.clear());
        }
    });
}

/// "● 2 running" in the header, linking to the running jobs; refreshed every few seconds.
#[component]
pub fn RunningIndicator() -> impl IntoView {
    let count = RwSignal::new(None::<u64>);
    let refresh = move || {
        leptos::task::spawn_local(async move {
            if let Ok(n) = running_job_count().await {
                count.try_set(Some(n));
            }
        });
    };
    Effect::new(move |_| refresh());
    every(Duration::from_secs(5), refresh);
    view! {
        <span aria-live="polite">
            {move || count.get().filter(|n| *n > 0).map(|n| view! {
                <a class="running-now" href="/jobs?state=running" title="Jobs running now">
                    <span class="dot" aria-hidden="true"></span>
                    {format!("{n} running")}
                </a>
            })}
        </span>
    }
}
