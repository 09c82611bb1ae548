//! The Distribution panel of images and driver packages: settings, Distribute, Update, and
//! the content's status on every DP.

use leptos::prelude::*;

use super::{
    IDLE_REFRESH, Pager, PairTable, REFRESH, STATES, follow, js_now,
    prestaged::PrestagedFiles,
    summary_text,
    targets::{DistributeForm, Picker},
};
use crate::{
    api::distribution::{
        ContentDistributionView, SetDistributionSettings, UpdateDistributionPoints,
        content_distribution, live::Follow,
    },
    components::error::{ErrorBanner, action_error},
    format,
    pages::jobs::widgets::every,
};

/// The Distribution panel of an image or a driver package: settings, Distribute, Update,
/// and the content's status on every DP.
#[component]
pub fn DistributionPanel(#[prop(into)] object_type: String, id: i64) -> impl IntoView {
    let reload = RwSignal::new(0u32);
    // Refreshed while transfers are under way, and for a while after a request (its job
    // makes the assignments when it has run).
    let watch_until = RwSignal::new(0f64);
    let queued = RwSignal::new(None::<i64>);
    every(REFRESH, move || {
        if js_now() < watch_until.get_untracked() {
            reload.update(|n| *n += 1);
        }
    });
    every(IDLE_REFRESH, move || reload.update(|n| *n += 1));
    let followed = object_type.clone();
    follow(
        move || Follow::Content {
            object_type: followed.clone(),
            object_id: id,
        },
        reload,
    );
    // Which of its DPs the panel lists (as the Distribution status page filters them).
    let shown = Shown {
        q: RwSignal::new(String::new()),
        state: RwSignal::new(String::new()),
        page: RwSignal::new(1u32),
    };
    // Outside the refreshed part, so a refresh keeps what the admin chose.
    let picker = Picker::new(object_type.clone(), id);
    Effect::new(move |_| {
        if let Some(Ok(job)) = picker.distribute.value().get() {
            queued.set(Some(job));
            watch_until.set(js_now() + 60_000.0);
            reload.update(|n| *n += 1);
            picker.distributed();
        }
    });
    let object = object_type.clone();
    let status = Resource::new(
        move || {
            (
                object.clone(),
                shown.q.get(),
                shown.state.get(),
                shown.page.get(),
                reload.get(),
            )
        },
        move |(object, q, state, page, _)| {
            content_distribution(object, id, Some(q), Some(state), Some(page))
        },
    );
    view! {
        <section class="panel" id="distribution" aria-label="Distribution">
            <h2>"Distribution"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(view) => view! { <ContentDistribution view reload watch_until queued shown picker /> }.into_any(),
                        Err(error) => view! { <ErrorBanner error /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// The filter and page of the panel's DPs.
#[derive(Clone, Copy)]
struct Shown {
    q: RwSignal<String>,
    state: RwSignal<String>,
    page: RwSignal<u32>,
}

/// The panel offers a filter once it lists more DPs than this.
const FILTER_FROM: u32 = 10;

#[component]
fn ContentDistribution(
    view: ContentDistributionView,
    reload: RwSignal<u32>,
    watch_until: RwSignal<f64>,
    queued: RwSignal<Option<i64>>,
    shown: Shown,
    picker: Picker,
) -> impl IntoView {
    let update = ServerAction::<UpdateDistributionPoints>::new();
    let settings = ServerAction::<SetDistributionSettings>::new();
    Effect::new(move |_| {
        if let Some(Ok(job)) = update.value().get() {
            queued.set(Some(job));
            watch_until.set(js_now() + 60_000.0);
            reload.update(|n| *n += 1);
        }
        if matches!(settings.value().get(), Some(Ok(()))) {
            reload.update(|n| *n += 1);
        }
    });
    let busy = view.summary.waiting + view.summary.in_progress > 0;
    if busy {
        watch_until.update(|t| *t = t.max(js_now() + 5_000.0));
    }
    let object_type = view.object_type.clone();
    let (for_update, for_settings, for_prestaged) = (
        object_type.clone(),
        object_type.clone(),
        object_type.clone(),
    );
    let id = view.object_id;
    let on_demand = if view.on_demand { "on" } else { "" };
    let version = view.newest_version.map(|(n, total, new, at)| {
        format!(
            "Version {n} in the content library: {} ({} new to the library), made {}",
            format::bytes(total),
            format::bytes(new),
            format::utc(at)
        )
    });
    view! {
        <p><strong>{summary_text(&view.summary)}</strong></p>
        {version.map(|v| view! { <p class="muted">{v}</p> })}
        {move || queued.get().map(|job| view! {
            <p class="muted" role="status">"Queued: " <a href=format!("/jobs/{job}")>{format!("job {job}")}</a></p>
        })}
        {(view.page.total > FILTER_FROM || !shown.q.get_untracked().is_empty() || !shown.state.get_untracked().is_empty())
            .then(|| view! { <PairFilters shown /> })}
        // A filter that hides every DP leaves the pager to say so.
        {(view.page.total == 0 || !view.pairs.is_empty()).then(|| view! {
            <PairTable pairs=view.pairs.clone() show_dp=true actions=(view.may_distribute, view.may_validate) />
        })}
        <Pager info=view.page go=move |page, label| view! {
            <button type="button" class="secondary small" on:click=move |_| shown.page.set(page)>{label}</button>
        } />
        {view.may_distribute.then(|| view! {
            <DistributeForm picker holders=view.summary.total />
            {(view.summary.total > 0).then(|| view! {
                <ActionForm action=update>
                    <input type="hidden" name="object_type" value=for_update.clone() />
                    <input type="hidden" name="object_id" value=id />
                    <button type="submit" class="secondary">"Update distribution points"</button>
                </ActionForm>
                {action_error(update.value())}
            })}
        })}
        {view.may_distribute.then(|| view! { <PrestagedFiles object_type=for_prestaged.clone() id files=view.prestaged_files.clone() reload watch_until queued /> })}
        {view.may_modify.then(|| view! {
            <details>
                <summary>"Distribution settings"</summary>
                <ActionForm action=settings attr:class="grid">
                    <input type="hidden" name="object_type" value=for_settings.clone() />
                    <input type="hidden" name="object_id" value=id />
                    <label>"Priority"
                        <select name="priority">
                            {[("high", "High"), ("medium", "Medium"), ("low", "Low")].map(|(v, l)| view! {
                                <option value=v selected=view.priority == v>{l}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label>"Prestaged distribution points"
                        <select name="prestaged">
                            {[("automatic", "Download automatically"), ("changes", "Download only content changes"), ("manual", "Copy content manually")].map(|(v, l)| view! {
                                <option value=v selected=view.prestaged == v>{l}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label class="check"><input type="checkbox" name="differential" checked=view.differential />"Binary differential replication"</label>
                    // "On demand" is offered once a client can ask a DP (PXE, multicast); kept.
                    <input type="hidden" name="on_demand" value=on_demand />
                    <button type="submit" class="secondary">"Save"</button>
                </ActionForm>
                {action_error(settings.value())}
            </details>
        })}
    }
}

/// The filter of the panel's DPs: it applies as soon as it changes.
#[component]
fn PairFilters(shown: Shown) -> impl IntoView {
    view! {
        <div class="filters" role="search" aria-label="Filter distribution points">
            <label>"Filter"
                <input type="search" placeholder="Distribution point"
                    prop:value=move || shown.q.get()
                    on:change=move |ev| { shown.q.set(event_target_value(&ev)); shown.page.set(1); } />
            </label>
            <label>"Status"
                <select on:change=move |ev| { shown.state.set(event_target_value(&ev)); shown.page.set(1); }>
                    <option value="" selected=move || shown.state.get().is_empty()>"Any"</option>
                    {STATES.iter().map(|(v, l)| view! {
                        <option value=*v selected=move || shown.state.get() == *v>{*l}</option>
                    }).collect_view()}
                </select>
            </label>
        </div>
    }
}
