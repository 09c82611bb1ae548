use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::{A, Form},
    hooks::{use_navigate, use_query_map},
};

use super::widgets::{ProgressBar, StateBadge, every};
use crate::{
    api::jobs::{JobListView, StartPruneJobs, StartStorageCheck, list_jobs},
    components::error::{ErrorBanner, action_error},
    format,
};

const STATES: [(&str, &str); 6] = [
    ("queued", "Queued"),
    ("running", "Running"),
    ("succeeded", "Succeeded"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
    ("interrupted", "Interrupted"),
];

#[component]
pub fn JobsPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).filter(|v| !v.is_empty());
    let refresh = RwSignal::new(0u32);
    let list = Resource::new(
        move || {
            let id = |name: &str| param(name).and_then(|v| v.parse::<i64>().ok());
            (
                param("state"),
                param("kind"),
                param("target"),
                id("before"),
                id("after"),
                refresh.get(),
            )
        },
        |(state, kind, target, before, after, _)| list_jobs(state, kind, target, before, after),
    );
    every(Duration::from_secs(3), move || refresh.update(|n| *n += 1));

    view! {
        <Title text="Jobs" />
        <div class="page-head">
            <h1>"Jobs"</h1>
            <A href="/jobs/schedules">"Schedules"</A>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(view) => view! { <JobsView view param=param /> }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn JobsView(
    view: JobListView,
    param: impl Fn(&str) -> Option<String> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let state = param("state").unwrap_or_default();
    let kind = param("kind").unwrap_or_default();
    let page_link = move |key: &str, id: i64| {
        let mut q = Vec::new();
        for name in ["state", "kind", "target"] {
            if let Some(v) = param(name) {
                q.push(format!("{name}={v}"));
            }
        }
        q.push(format!("{key}={id}"));
        format!("/jobs?{}", q.join("&"))
    };
    let start = view.may_start.then(|| {
        view! {
            <StartPanel max_mib=view.storage_check_max_mib retention_days=view.retention_days />
        }
    });
    let empty = view.rows.is_empty();
    view! {
        {start}
        <Form method="GET" action="/jobs" attr:class="filters">
            <label>"State"
                <select name="state">
                    <option value="" selected=state.is_empty()>"Any"</option>
                    {STATES.iter().map(|(v, l)| view! { <option value=*v selected=state == *v>{*l}</option> }).collect_view()}
                </select>
            </label>
            <label>"Kind"
                <select name="kind">
                    <option value="" selected=kind.is_empty()>"Any"</option>
                    {view.kinds.iter().map(|(v, l)| view! { <option value=v.clone() selected=kind == *v>{l.clone()}</option> }).collect_view()}
                </select>
            </label>
            {param("target").map(|t| view! { <input type="hidden" name="target" value=t /> })}
            <button type="submit" class="secondary">"Filter"</button>
        </Form>
        {empty.then(|| view! { <p class="muted">"No jobs match."</p> })}
        <div class="table-scroll">
            <table class="list" aria-label="Jobs">
                <thead><tr>
                    <th>"ID"</th><th>"Job"</th><th>"Object"</th><th>"State"</th><th>"Progress"</th><th>"Started by"</th><th>"Created"</th>
                </tr></thead>
                <tbody>
                    {view.rows.into_iter().map(|row| {
                        let href = format!("/jobs/{}", row.id);
                        view! {
                            <tr data-job-id=row.id>
                                <td data-label="ID"><a href=href.clone()>{row.id}</a></td>
                                <td data-label="Job"><span><a href=href>{row.kind_label.clone()}</a>" "<span class="muted">{row.description.clone()}</span></span></td>
                                <td data-label="Object">{row.target.clone().unwrap_or_else(|| "—".into())}</td>
                                <td data-label="State"><StateBadge state=row.state.clone() label=row.state_label.clone() /></td>
                                <td data-label="Progress">{match (row.state.as_str(), row.progress.clone()) {
                                    ("running", Some(p)) => view! { <ProgressBar progress=p compact=true /> }.into_any(),
                                    _ => "—".into_any(),
                                }}</td>
                                <td data-label="Started by">{row.started_by.clone()}</td>
                                <td class="when" data-label="Created">{format::utc(row.created_at_ms)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <nav class="pager" aria-label="Pages">
            {view.newer.map(|id| view! { <a href=page_link("after", id)>"← Newer"</a> })}
            {view.older.map(|id| view! { <a href=page_link("before", id)>"Older →"</a> })}
        </nav>
    }
}

/// Starting the jobs this page owns.
#[component]
fn StartPanel(max_mib: u32, retention_days: u32) -> impl IntoView {
    let check = ServerAction::<StartStorageCheck>::new();
    let prune = ServerAction::<StartPruneJobs>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        let started = check
            .value()
            .get()
            .and_then(Result::ok)
            .or_else(|| prune.value().get().and_then(Result::ok));
        if let Some(id) = started {
            navigate(&format!("/jobs/{id}"), Default::default());
        }
    });
    view! {
        <section class="panel" aria-label="Start a job">
            <ActionForm action=check attr:class="row">
                <label>"Storage check of"
                    <span class="with-unit">
                        <input name="size_mib" type="number" min="1" max=max_mib value="1024" required />
                        " MiB"
                    </span>
                </label>
                <button type="submit">"Run storage check"</button>
            </ActionForm>
            {action_error(check.value())}
            <ActionForm action=prune attr:class="row">
                <label>"Finished jobs older than"
                    <span class="with-unit">
                        <input name="older_than_days" type="number" min="1" max="3650" value=retention_days required />
                        " days"
                    </span>
                </label>
                <button type="submit" class="secondary">"Prune now"</button>
            </ActionForm>
            {action_error(prune.value())}
        </section>
    }
}
