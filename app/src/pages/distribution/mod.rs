//! Distribution: the Distribution points pages ([`points`]), the Distribution panel of images
//! and driver packages ([`panel`]), and here the Distribution status page (every content on
//! every DP, phone-friendly, updated live) and what they share.

mod panel;
mod points;
mod prestaged;
mod targets;

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::Form, hooks::use_query_map};

pub use panel::DistributionPanel;
pub use points::{DistributionPointPage, DistributionPointsPage};
use prestaged::PrestagedSection;

use crate::{
    api::distribution::{
        ContentOnDp, PageInfo, PairView, StatusView, SummaryView, distribution_history,
        distribution_status,
        live::{Follow, watch_distribution},
    },
    components::error::{ErrorBanner, action_error},
    format,
    pages::jobs::widgets::every,
};

/// How often pages with transfers under way look again (changes are also pushed to them).
pub(super) const REFRESH: Duration = Duration::from_secs(2);
/// How often pages look again when nothing is under way.
pub(super) const IDLE_REFRESH: Duration = Duration::from_secs(30);

/// The time in the browser (ms since the epoch); 0 on the server.
pub(super) fn js_now() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0.0
    }
}

/// Reloads a page (`reload`) whenever the server says what it shows changed, while the page
/// is open (see [`watch_distribution`]); a socket that closes is opened again 5 s later.
/// `target` is tracked: a new target follows anew, and the old socket is closed.
pub(super) fn follow(target: impl Fn() -> Follow + 'static, reload: RwSignal<u32>) {
    Effect::new(move |_| {
        let target = target();
        let (stop, stopped) = futures::channel::oneshot::channel::<()>();
        let stop = std::sync::Mutex::new(Some(stop));
        on_cleanup(move || {
            if let Some(stop) = stop.lock().ok().and_then(|mut s| s.take()) {
                let _ = stop.send(());
            }
        });
        leptos::task::spawn_local(async move {
            use futures::future::{Either, select};
            let mut stopped = stopped;
            loop {
                let watched = std::pin::pin!(watch(target.clone(), reload));
                match select(watched, &mut stopped).await {
                    // The page was left: dropping the socket closes it.
                    Either::Left((Watched::Left, _)) | Either::Right(_) => return,
                    Either::Left((Watched::Closed, _)) => {}
                }
                let pause = std::pin::pin!(pause(Duration::from_secs(5)));
                if let Either::Right(_) = select(pause, &mut stopped).await {
                    return;
                }
            }
        });
    });
}

/// How a [`watch`] ended.
enum Watched {
    /// The page is gone.
    Left,
    /// The socket closed (or never opened).
    Closed,
}

/// Follows `target` over one socket, reloading the page on each change.
async fn watch(target: Follow, reload: RwSignal<u32>) -> Watched {
    use futures::StreamExt;
    let (mut input, rx) = futures::channel::mpsc::channel(1);
    if input.try_send(Ok(target)).is_err() {
        return Watched::Closed;
    }
    let Ok(mut changes) = watch_distribution(rx.into()).await else {
        return Watched::Closed;
    };
    while let Some(Ok(change)) = changes.next().await {
        // 0 is the socket saying it is alive. `try_`: the page may have been left.
        if change > 0 && reload.try_update(|n| *n += 1).is_none() {
            return Watched::Left;
        }
    }
    drop(input);
    Watched::Closed
}

/// Waits `duration` (in the browser, where pages follow).
async fn pause(duration: Duration) {
    let (done, waited) = futures::channel::oneshot::channel::<()>();
    set_timeout(
        move || {
            let _ = done.send(());
        },
        duration,
    );
    let _ = waited.await;
}

pub(super) fn when(ms: Option<i64>) -> String {
    ms.map(format::utc).unwrap_or_else(|| "never".to_owned())
}

pub(super) fn bytes(value: Option<u64>) -> String {
    value.map(format::bytes).unwrap_or_default()
}

/// "In progress 42% · 12.5 MB/s", "Success (version 3)", "Failed".
fn state_text(pair: &PairView) -> String {
    let mut text = pair.state_label.clone();
    if let Some(percent) = pair.percent {
        text.push_str(&format!(" {percent}%"));
    }
    if let Some(rate) = pair.rate_bps.filter(|_| pair.state == "in-progress") {
        text.push_str(&format!(" · {}/s", format::bytes(rate)));
    }
    if pair.state == "success"
        && let Some(v) = pair.installed_version
    {
        text.push_str(&format!(" (version {v})"));
    }
    text
}

/// "12.0 MB of 1.0 GB needed": what binary differential replication saved.
fn needed_text(pair: &PairView) -> String {
    match (pair.bytes_needed, pair.bytes_total) {
        (Some(needed), Some(total)) => format!(
            "{} of {} needed",
            format::bytes(needed),
            format::bytes(total)
        ),
        (None, Some(total)) => format::bytes(total),
        _ => String::new(),
    }
}

pub(super) fn summary_text(s: &SummaryView) -> String {
    format!(
        "{} of {} DPs · {} in progress · {} waiting · {} failed",
        s.success, s.total, s.in_progress, s.waiting, s.failed
    )
}

/// Content × DP rows (cards on a phone).
#[component]
pub(super) fn PairTable(
    pairs: Vec<PairView>,
    show_dp: bool,
    /// Redistribute / Validate / Remove buttons per row.
    #[prop(optional)]
    actions: Option<(bool, bool)>,
) -> impl IntoView {
    if pairs.is_empty() {
        return view! { <p class="muted">"Nothing distributed yet."</p> }.into_any();
    }
    view! {
        <div class="table-scroll">
            <table class="list" aria-label="Distribution status">
                <thead><tr>
                    {(!show_dp).then(|| view! { <th>"Content"</th> })}
                    {show_dp.then(|| view! { <th>"Distribution point"</th> })}
                    <th>"Status"</th><th>"Transfer"</th><th>"Version"</th><th>"Updated"</th><th>"Detail"</th>
                    {actions.is_some().then(|| view! { <th><span class="visually-hidden">"Actions"</span></th> })}
                </tr></thead>
                <tbody>
                    {pairs.into_iter().map(|p| {
                        let state = state_text(&p);
                        let version = match (p.installed_version, p.target_version) {
                            (Some(i), Some(t)) if i != t => format!("{i} → {t}"),
                            (Some(i), _) => i.to_string(),
                            (None, Some(t)) => format!("→ {t}"),
                            _ => String::new(),
                        };
                        view! {
                            <tr data-dp-id=p.dp_id data-state=p.state.clone()>
                                {(!show_dp).then(|| view! { <td data-label="Content"><a href=p.href.clone()>{p.content_name.clone()}</a></td> })}
                                {show_dp.then(|| view! { <td data-label="Distribution point"><a href=format!("/distribution-points/{}", p.dp_id)>{p.dp_name.clone()}</a></td> })}
                                <td data-label="Status">
                                    <span class=format!("badge dist-{}", p.state)>{state}</span>
                                    {p.percent.map(|v| view! { <progress max="100" value=v.to_string() aria-label="Transfer progress"></progress> })}
                                </td>
                                <td data-label="Transfer">{needed_text(&p)}</td>
                                <td data-label="Version">{version}</td>
                                <td class="when" data-label="Updated">{format::utc(p.updated_at_ms)}</td>
                                <td data-label="Detail"><span class="detail">{p.detail.clone()}</span></td>
                                {actions.map(|(distribute, validate)| view! {
                                    <td data-label=""><PairActions pair=p.clone() distribute validate /></td>
                                })}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn PairActions(pair: PairView, distribute: bool, validate: bool) -> impl IntoView {
    let act = ServerAction::<ContentOnDp>::new();
    let history = RwSignal::new(None::<Vec<crate::api::distribution::HistoryView>>);
    let (object_type, object_id, dp) = (pair.object_type.clone(), pair.object_id, pair.dp_id);
    let show_history = move |_| {
        let object_type = object_type.clone();
        leptos::task::spawn_local(async move {
            if let Ok(steps) = distribution_history(object_type, object_id, dp).await {
                history.set(Some(steps));
            }
        });
    };
    let kind = pair.object_type.clone();
    let button = move |action: &'static str, label: &'static str| {
        view! {
            <ActionForm action=act attr:class="inline">
                <input type="hidden" name="object_type" value=kind.clone() />
                <input type="hidden" name="object_id" value=pair.object_id />
                <input type="hidden" name="dp" value=pair.dp_id />
                <input type="hidden" name="action" value=action />
                <button type="submit" class="secondary small">{label}</button>
            </ActionForm>
        }
    };
    view! {
        <div class="row-actions">
            {distribute.then({ let button = button.clone(); move || button("redistribute", "Redistribute") })}
            {validate.then({ let button = button.clone(); move || button("validate", "Validate") })}
            {distribute.then(move || button("remove", "Remove"))}
            <button type="button" class="secondary small" on:click=show_history>"History"</button>
        </div>
        {action_error(act.value())}
        {move || history.get().map(|steps| view! {
            <ol class="history">
                {steps.into_iter().map(|h| view! {
                    <li>
                        <span class="when">{format::utc(h.at_ms)}</span>" "
                        <strong>{h.state_label}</strong>
                        {h.version.map(|v| format!(" (version {v})"))}
                        {(!h.detail.is_empty()).then(|| format!(": {}", h.detail))}
                    </li>
                }).collect_view()}
            </ol>
        })}
    }
}

/// The states the status page and the panels filter by: (value, label).
pub(super) const STATES: [(&str, &str); 4] = [
    ("failed", "Failed"),
    ("in-progress", "In progress"),
    ("waiting", "Waiting"),
    ("success", "Success"),
];

/// `base?name=value&…&page=N`: the non-empty `params`, and the page unless it is the first.
pub(super) fn list_href(base: &str, params: &[(&str, String)], page: u32) -> String {
    let mut query: Vec<String> = params
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", format::url_component(value)))
        .collect();
    if page > 1 {
        query.push(format!("page={page}"));
    }
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", query.join("&"))
    }
}

/// "51–100 of 420 (500 in all)" and the ways to the pages before and after: what
/// `go(page, label)` makes (a link or a button). Nothing when one page shows every row.
#[component]
pub(super) fn Pager<V: IntoView + 'static>(
    info: PageInfo,
    go: impl Fn(u32, &'static str) -> V,
) -> impl IntoView {
    let size = info.size.max(1);
    // Everything on one page, nothing filtered out: nothing to say.
    if info.matched == info.total && info.total <= size {
        return ().into_any();
    }
    let page = info.offset / size + 1;
    let shown_to = (info.offset + size).min(info.matched);
    let mut text = if info.matched == 0 {
        "None matches.".to_owned()
    } else {
        format!("{}–{shown_to} of {}", info.offset + 1, info.matched)
    };
    if info.matched != info.total {
        text.push_str(&format!(" ({} in all)", info.total));
    }
    let previous = (page > 1).then(|| go(page - 1, "← Previous"));
    let next = (shown_to < info.matched).then(|| go(page + 1, "Next →"));
    let nav = (previous.is_some() || next.is_some())
        .then(|| view! { <nav class="pager" aria-label="Pages">{previous}{next}</nav> });
    view! {
        <p class="muted">{text}</p>
        {nav}
    }
    .into_any()
}

/// [`Pager`]'s links to pages of a list at `base` with query `params`.
pub(super) fn page_links(
    base: &'static str,
    params: Vec<(&'static str, String)>,
) -> impl Fn(u32, &'static str) -> AnyView {
    move |page, label| view! { <a href=list_href(base, &params, page)>{label}</a> }.into_any()
}

#[component]
pub fn DistributionStatusPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).unwrap_or_default();
    let reload = RwSignal::new(0u32);
    let status = Resource::new(
        move || (param("q"), param("state"), param("page"), reload.get()),
        |(q, state, page, _)| distribution_status(Some(q), Some(state), page.parse().ok()),
    );
    follow(|| Follow::All, reload);
    // Rates and percentages move while transfers run; health changes with time alone.
    let busy = RwSignal::new(false);
    every(REFRESH, move || {
        if busy.get_untracked() {
            reload.update(|n| *n += 1);
        }
    });
    every(IDLE_REFRESH, move || reload.update(|n| *n += 1));
    view! {
        <Title text="Distribution status" />
        <div class="page-head"><h1>"Distribution status"</h1><a href="/distribution-points">"Distribution points"</a></div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match status.await {
                    Ok(view) => view! { <StatusBody view busy q=param("q") state=param("state") /> }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
        <PrestagedSection />
    }
}

#[component]
fn StatusBody(view: StatusView, busy: RwSignal<bool>, q: String, state: String) -> impl IntoView {
    busy.set(view.summary.in_progress + view.summary.waiting > 0);
    let l = &view.library;
    let library = format!(
        "Content library: {} contents, {} versions, {} stored for {} of versions ({} saved by sharing chunks)",
        l.contents,
        l.versions,
        format::bytes(l.stored_bytes),
        format::bytes(l.logical_bytes),
        format::bytes(l.saved_bytes)
    );
    let s = &view.summary;
    let failed_class = if s.failed > 0 { "alert" } else { "" };
    // A tile lists the pairs it counts.
    let tile = |state: &str| list_href("/distribution", &[("state", state.to_owned())], 1);
    let go = page_links(
        "/distribution",
        vec![("q", q.clone()), ("state", state.clone())],
    );
    view! {
        <ul class="tiles" aria-label="Summary">
            <li><a href=tile("success")><strong>{s.success}</strong>" in place"</a></li>
            <li><a href=tile("in-progress")><strong>{s.in_progress}</strong>" in progress"</a></li>
            <li><a href=tile("waiting")><strong>{s.waiting}</strong>" waiting"</a></li>
            <li class=failed_class><a href=tile("failed")><strong>{s.failed}</strong>" failed"</a></li>
        </ul>
        <p class="muted">{library}</p>
        <Form method="GET" action="/distribution" attr:class="filters">
            <label>"Filter"
                <input type="search" name="q" value=q.clone() placeholder="Content or distribution point" />
            </label>
            <label>"Status"
                <select name="state">
                    <option value="" selected=state.is_empty()>"Any"</option>
                    {STATES.iter().map(|(v, l)| view! { <option value=*v selected=state == *v>{*l}</option> }).collect_view()}
                </select>
            </label>
            <button type="submit" class="secondary">"Filter"</button>
        </Form>
        {(view.page.total == 0).then(|| view! { <p class="muted">"Nothing distributed yet."</p> })}
        <PairTableWithContent pairs=view.pairs />
        <Pager info=view.page go />
    }
}

/// Every pair: content and DP both shown.
#[component]
fn PairTableWithContent(pairs: Vec<PairView>) -> impl IntoView {
    if pairs.is_empty() {
        return ().into_any();
    }
    view! {
        <div class="table-scroll">
            <table class="list" aria-label="Content on distribution points">
                <thead><tr><th>"Content"</th><th>"Distribution point"</th><th>"Status"</th><th>"Transfer"</th><th>"Updated"</th><th>"Detail"</th></tr></thead>
                <tbody>
                    {pairs.into_iter().map(|p| view! {
                        <tr data-state=p.state.clone()>
                            <td data-label="Content"><a href=p.href.clone()>{p.content_name.clone()}</a></td>
                            <td data-label="Distribution point"><a href=format!("/distribution-points/{}", p.dp_id)>{p.dp_name.clone()}</a></td>
                            <td data-label="Status">
                                <span class=format!("badge dist-{}", p.state)>{state_text(&p)}</span>
                                {p.percent.map(|v| view! { <progress max="100" value=v.to_string() aria-label="Transfer progress"></progress> })}
                            </td>
                            <td data-label="Transfer">{needed_text(&p)}</td>
                            <td class="when" data-label="Updated">{format::utc(p.updated_at_ms)}</td>
                            <td data-label="Detail"><span class="detail">{p.detail.clone()}</span></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::list_href;

    #[test]
    fn list_links_keep_what_was_typed_and_leave_out_empty_filters() {
        let params = [("q", "a&b #1+2 größe".to_owned()), ("state", String::new())];
        assert_eq!(
            list_href("/distribution", &params, 3),
            "/distribution?q=a%26b%20%231%2B2%20gr%C3%B6%C3%9Fe&page=3"
        );
        assert_eq!(list_href("/distribution", &params[1..], 1), "/distribution");
        assert_eq!(
            list_href("/distribution-points", &[("health", "offline".into())], 1),
            "/distribution-points?health=offline"
        );
    }
}
