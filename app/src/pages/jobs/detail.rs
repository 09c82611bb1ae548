use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::widgets::{ProgressBar, StateBadge, every};
use crate::{
    AppError,
    api::jobs::{
        CancelJob, JobDetailView, JobRow, LogLineView, RetryJob, job_detail, job_poll, watch_job,
    },
    components::error::{ErrorBanner, action_error},
    format,
};

#[component]
pub fn JobDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|v| v.parse::<i64>().ok());
    let detail = Resource::new(id, |id| async move {
        match id {
            Some(id) => job_detail(id).await,
            None => Err(AppError::NotFound("That job".into())),
        }
    });
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(view) => view! { <LiveJob view /> }.into_any(),
                    Err(error) => view! { <h1>"Job"</h1><ErrorBanner error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// A job that updates itself every second while it is queued or running.
#[component]
fn LiveJob(view: JobDetailView) -> impl IntoView {
    let id = view.row.id;
    let row = RwSignal::new(view.row.clone());
    let log = RwSignal::new(view.log.clone());
    let result = RwSignal::new(view.result_json.clone());
    let error = RwSignal::new(view.error.clone());
    let cancel_requested = RwSignal::new(view.cancel_requested);
    let polling = StoredValue::new(false);

    // Fetches state, result and new log lines now.
    let refresh = move || {
        // `try_`: the websocket's end can arrive after the page was left.
        if polling.try_get_value().unwrap_or(true) {
            return;
        }
        polling.try_set_value(true);
        let Some(after) = log.try_with_untracked(|l| l.last().map(|line| line.id)) else {
            return;
        };
        leptos::task::spawn_local(async move {
            let update = job_poll(id, after).await;
            // The page may have been left while the request was out: its signals are gone
            // then, and the answer is dropped (`try_` does nothing on a disposed signal).
            if let Ok(mut update) = update {
                // The websocket may be ahead of the last saved progress: never move back.
                let Some(current) = row.try_with_untracked(|r| r.progress.clone()) else {
                    return;
                };
                if let (Some(now), Some(saved)) = (&current, &update.row.progress)
                    && update.row.state == "running"
                    && now.done > saved.done
                {
                    update.row.progress = current;
                }
                row.try_set(update.row);
                result.try_set(update.result_json);
                error.try_set(update.error);
                cancel_requested.try_set(update.cancel_requested);
                if !update.new_log.is_empty() {
                    log.try_update(|l| {
                        l.extend(update.new_log);
                        let excess = l
                            .len()
                            .saturating_sub(crate::api::jobs::LOG_TAIL_LINES as usize);
                        l.drain(..excess);
                    });
                }
            }
            polling.try_set_value(false);
        });
    };
    // While the job is open: every second, whatever the websocket does.
    let poll = move || {
        if !row.with_untracked(JobRow::is_final) {
            refresh();
        }
    };
    every(Duration::from_secs(1), poll);
    watch(id, row, refresh);

    let cancel = ServerAction::<CancelJob>::new();
    let retry = ServerAction::<RetryJob>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(new_id)) = retry.value().get() {
            navigate(&format!("/jobs/{new_id}"), Default::default());
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = cancel.value().get() {
            cancel_requested.set(true);
            refresh();
        }
    });

    let may_control = view.may_control;
    let title = format!("Job {id}");
    view! {
        <Title text=title.clone() />
        <div class="page-head">
            <h1>{title}" · "{view.row.kind_label.clone()}" "<span class="muted">{view.row.description.clone()}</span></h1>
            {move || { let r = row.get(); view! { <StateBadge state=r.state label=r.state_label /> } }}
        </div>
        <section class="panel" aria-label="Progress">
            {move || {
                let r = row.get();
                match (r.state.as_str(), r.progress) {
                    ("queued", _) => view! { <p class="muted">"Waiting for a worker."</p> }.into_any(),
                    (_, Some(p)) => view! { <ProgressBar progress=p /> }.into_any(),
                    _ => view! { <p class="muted">"No progress reported."</p> }.into_any(),
                }
            }}
            {move || (cancel_requested.get() && !row.get().is_final()).then(|| view! { <p class="muted">"Stopping…"</p> })}
            <div class="actions">
                {move || (may_control && !row.get().is_final() && !cancel_requested.get()).then(|| view! {
                    <ActionForm action=cancel attr:class="inline">
                        <input type="hidden" name="id" value=id />
                        <button type="submit" class="danger">"Cancel"</button>
                    </ActionForm>
                })}
                {move || (may_control && matches!(row.get().state.as_str(), "failed" | "cancelled" | "interrupted")).then(|| view! {
                    <ActionForm action=retry attr:class="inline">
                        <input type="hidden" name="id" value=id />
                        <button type="submit">"Retry"</button>
                    </ActionForm>
                })}
                <a class="button secondary" href=format!("/api/job_log?id={id}") download=format!("wimdeck-job-{id}.log")>"Download log"</a>
            </div>
            {action_error(cancel.value())}
            {action_error(retry.value())}
        </section>
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        <dl class="facts">
            <dt>"Started by"</dt><dd>{view.row.started_by.clone()}</dd>
            <dt>"Object"</dt><dd>{view.row.target.clone().unwrap_or_else(|| "—".into())}</dd>
            <dt>"Created"</dt><dd>{format::utc(view.row.created_at_ms)}</dd>
            <dt>"Started"</dt><dd>{move || row.get().started_at_ms.map(format::utc).unwrap_or_else(|| "—".into())}</dd>
            <dt>"Finished"</dt><dd>{move || row.get().finished_at_ms.map(format::utc).unwrap_or_else(|| "—".into())}</dd>
            <dt>"Attempts"</dt><dd>{format!("{} of at most {}", view.attempts, view.max_attempts)}{(!view.retry_safe).then_some(" (not retried automatically)")}</dd>
            {view.retry_of.map(|r| view! { <dt>"Retry of"</dt><dd><a href=format!("/jobs/{r}")>{format!("Job {r}")}</a></dd> })}
        </dl>
        <details class="panel"><summary>"Parameters"</summary><pre>{view.params_json.clone()}</pre></details>
        {move || result.get().map(|r| {
            let link = result_link(&r).map(|url| view! { <p><a class="button" href=url>"Open the image"</a></p> });
            view! { <section class="panel"><h2>"Result"</h2>{link}<pre data-testid="result">{r}</pre></section> }
        })}
        <section class="panel">
            <h2>"Log"</h2>
            <pre class="log" data-testid="log">
                {move || log.get().into_iter().map(|line: LogLineView| view! {
                    <span class=format!("line {}", line.level)>{format!("{}  {}\n", format::utc(line.at_ms), line.message)}</span>
                }).collect_view()}
            </pre>
        </section>
    }
}

/// Follows the job over the websocket while it is open; polling fills in whatever this misses.
fn watch(id: i64, row: RwSignal<JobRow>, on_end: impl Fn() + Clone + 'static) {
    Effect::new(move |_| {
        if row.with_untracked(JobRow::is_final) {
            return;
        }
        let on_end = on_end.clone();
        leptos::task::spawn_local(async move {
            use futures::StreamExt;
            let (mut tx, rx) = futures::channel::mpsc::channel(1);
            if tx.try_send(Ok(id)).is_err() {
                return;
            }
            if let Ok(mut events) = watch_job(rx.into()).await {
                while let Some(Ok(event)) = events.next().await {
                    let ended = !matches!(event.state.as_str(), "queued" | "running");
                    let updated = row.try_update(|r| {
                        r.state = event.state;
                        r.state_label = event.state_label;
                        if event.progress.is_some() {
                            r.progress = event.progress;
                        }
                    });
                    // The page was left: stop following.
                    if updated.is_none() {
                        break;
                    }
                    if ended {
                        on_end();
                        break;
                    }
                }
            }
            drop(tx);
        });
    });
}

/// A local page a job's result points at (`"url": "/boot-images/7"`), if any.
fn result_link(result_json: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(result_json).ok()?;
    let url = value.get("url")?.as_str()?;
    (url.starts_with('/') && !url.starts_with("//")).then(|| url.to_owned())
}
