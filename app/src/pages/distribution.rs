//! Distribution: the Distribution points page (DPs, groups, adding either), a DP's page
//! (settings, enrollment, revoke, delete, its content), the Distribution status page (every
//! content on every DP, phone-friendly, refreshed every two seconds), and the Distribution
//! panel of images and driver packages.

use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::{
    api::distribution::{
        ContentDistributionView, ContentOnDp, CreateDistributionPoint, CreateDpGroup,
        DeleteDistributionPoint, DeleteDpGroup, DistributeContent, DpDetailView, DpListView,
        EditDistributionPoint, NewEnrollmentToken, PairView, RevokeDistributionPoint,
        SetDistributionSettings, SetDpGroupMembers, StatusView, SummaryView,
        UpdateDistributionPoints, content_distribution, distribution_history,
        distribution_point_detail, distribution_status, list_distribution_points,
    },
    components::error::{ErrorBanner, action_error},
    format,
    pages::{jobs::widgets::every, security::SecurityPanel},
};

/// How often pages with transfers under way look again.
const REFRESH: Duration = Duration::from_secs(2);

/// The time in the browser (ms since the epoch); 0 on the server.
fn js_now() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0.0
    }
}

fn when(ms: Option<i64>) -> String {
    ms.map(format::utc).unwrap_or_else(|| "never".to_owned())
}

fn bytes(value: Option<u64>) -> String {
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

fn summary_text(s: &SummaryView) -> String {
    format!(
        "{} of {} DPs · {} in progress · {} waiting · {} failed",
        s.success, s.total, s.in_progress, s.waiting, s.failed
    )
}

#[component]
pub fn DistributionPointsPage() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let list = Resource::new(move || reload.get(), |_| list_distribution_points());
    every(REFRESH * 5, move || reload.update(|n| *n += 1));
    view! {
        <Title text="Distribution points" />
        <div class="page-head"><h1>"Distribution points"</h1><a href="/distribution">"Distribution status"</a></div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(view) => view! { <DpList view reload /> }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn DpList(view: DpListView, reload: RwSignal<u32>) -> impl IntoView {
    let may_create = view.may_create;
    let all: Vec<(i64, String)> = view.rows.iter().map(|r| (r.id, r.name.clone())).collect();
    view! {
        <p class="muted">{format!("A DP that has not reported for {} minutes is shown offline.", view.offline_after_minutes)}</p>
        <div class="table-scroll">
            <table class="list" aria-label="Distribution points">
                <thead><tr>
                    <th>"Name"</th><th>"Kind"</th><th>"Status"</th><th>"Last contact"</th>
                    <th>"Content"</th><th>"Free space"</th><th>"Library"</th><th>"Version"</th>
                </tr></thead>
                <tbody>
                    {view.rows.into_iter().map(|row| view! {
                        <tr data-dp-id=row.id>
                            <td data-label="Name"><span><a href=format!("/distribution-points/{}", row.id)>{row.name.clone()}</a>" "<span class="muted">{row.description.clone()}</span></span></td>
                            <td data-label="Kind">{row.kind.clone()}</td>
                            <td data-label="Status"><span class=format!("badge dp-{}", row.health)>{row.health_label.clone()}</span></td>
                            <td class="when" data-label="Last contact">{when(row.last_contact_ms)}</td>
                            <td data-label="Content">{format!("{} of {} in place", row.contents_ok, row.contents_total)}</td>
                            <td data-label="Free space">{bytes(row.free_bytes)}</td>
                            <td data-label="Library">{bytes(row.library_bytes)}</td>
                            <td data-label="Version">{row.agent_version.clone()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        <section class="panel" aria-label="Distribution point groups">
            <h2>"Groups"</h2>
            {view.groups.is_empty().then(|| view! { <p class="muted">"No group yet. Content sent to a group goes to each of its members, and to DPs that join it later."</p> })}
            {view.groups.into_iter().map(|g| view! { <GroupRow group=g all=all.clone() may_edit=may_create reload /> }).collect_view()}
            {may_create.then(|| view! { <NewGroup reload /> })}
        </section>
        {may_create.then(|| view! { <NewDp /> })}
    }
}

#[component]
fn GroupRow(
    group: crate::api::distribution::GroupRow,
    all: Vec<(i64, String)>,
    may_edit: bool,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let members = ServerAction::<SetDpGroupMembers>::new();
    let delete = ServerAction::<DeleteDpGroup>::new();
    Effect::new(move |_| {
        if matches!(members.value().get(), Some(Ok(())))
            || matches!(delete.value().get(), Some(Ok(())))
        {
            reload.update(|n| *n += 1);
        }
    });
    let chosen = RwSignal::new(
        group
            .members
            .iter()
            .map(|(id, _)| *id)
            .collect::<Vec<i64>>(),
    );
    let ids = move || {
        chosen
            .get()
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let names = group
        .members
        .iter()
        .map(|(_, n)| n.clone())
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <details class="group" data-group-id=group.id>
            <summary>
                <strong>{group.name.clone()}</strong>
                {format!(" — {} member(s), {} content(s) sent", group.members.len(), group.contents)}
                <span class="muted">{format!(" {names}")}</span>
            </summary>
            <p class="muted">{group.description.clone()}</p>
            {may_edit.then(|| view! {
                <ActionForm action=members attr:class="grid">
                    <input type="hidden" name="id" value=group.id />
                    <input type="hidden" name="members" prop:value=ids />
                    <fieldset>
                        <legend>"Members"</legend>
                        {all.iter().map(|(id, name)| {
                            let id = *id;
                            view! {
                                <label class="check">
                                    <input type="checkbox"
                                        prop:checked=move || chosen.get().contains(&id)
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            chosen.update(|c| { c.retain(|x| *x != id); if on { c.push(id); } });
                                        } />
                                    {name.clone()}
                                </label>
                            }
                        }).collect_view()}
                    </fieldset>
                    <button type="submit">"Save members"</button>
                </ActionForm>
                {action_error(members.value())}
                <ActionForm action=delete>
                    <input type="hidden" name="id" value=group.id />
                    <button type="submit" class="danger">"Delete group"</button>
                </ActionForm>
                {action_error(delete.value())}
            })}
        </details>
    }
}

#[component]
fn NewGroup(reload: RwSignal<u32>) -> impl IntoView {
    let create = ServerAction::<CreateDpGroup>::new();
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_))) {
            reload.update(|n| *n += 1);
        }
    });
    view! {
        <ActionForm action=create attr:class="grid" attr:aria-label="New group">
            <label>"New group" <input name="name" required maxlength="128" placeholder="Branch offices" /></label>
            <label>"Description" <input name="description" maxlength="1024" /></label>
            <button type="submit" class="secondary">"Add group"</button>
        </ActionForm>
        {action_error(create.value())}
    }
}

/// The settings fields shared by the Add form and a DP's page.
fn settings_fields(s: crate::api::distribution::DpSettingsView) -> impl IntoView {
    let number = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
    view! {
        <label>"Description" <input name="description" maxlength="1024" value=s.description /></label>
        <label>"Boundaries (subnets it serves, one per line)"
            <textarea name="boundaries" rows="3" placeholder="10.20.0.0/16">{s.boundaries}</textarea>
        </label>
        <label>"Rate limit (KiB/s, empty: unlimited)" <input name="rate_limit_kbps" inputmode="numeric" value=number(s.rate_limit_kbps) /></label>
        <label>"Limit from hour (0–24)" <input name="rate_from_hour" inputmode="numeric" value=s.rate_from_hour.map(|h| h.to_string()).unwrap_or_default() /></label>
        <label>"Limit until hour (0–24)" <input name="rate_to_hour" inputmode="numeric" value=s.rate_to_hour.map(|h| h.to_string()).unwrap_or_default() /></label>
        <label>"Concurrent transfers" <input name="concurrent_transfers" inputmode="numeric" value=s.concurrent_transfers.max(1).to_string() /></label>
        <label>"Validate content every (hours, empty: only when asked)" <input name="validate_every_hours" inputmode="numeric" value=number(s.validate_every_hours) /></label>
        <label class="check"><input type="checkbox" name="prestaged_enabled" checked=s.prestaged_enabled />"Enable for prestaged content"</label>
    }
}

#[component]
fn NewDp() -> impl IntoView {
    let create = ServerAction::<CreateDistributionPoint>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = create.value().get() {
            navigate(&format!("/distribution-points/{id}"), Default::default());
        }
    });
    view! {
        <section class="panel" aria-label="Add a distribution point">
            <h2>"Add a distribution point"</h2>
            <p class="muted">"A remote DP runs the same wimdeck binary. After adding it, make an enrollment token on its page and run the command shown there on the DP."</p>
            <ActionForm action=create attr:class="grid">
                <label>"Name" <input name="name" required maxlength="128" placeholder="Branch 12" /></label>
                {settings_fields(crate::api::distribution::DpSettingsView { concurrent_transfers: 2, ..Default::default() })}
                <button type="submit">"Add"</button>
            </ActionForm>
            {action_error(create.value())}
        </section>
    }
}

#[component]
pub fn DistributionPointPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let reload = RwSignal::new(0u32);
    let detail = Resource::new(
        move || (id(), reload.get()),
        |(id, _)| distribution_point_detail(id),
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(view) => view! { <DpDetail view reload /> }.into_any(),
                    Err(error) => view! { <Title text="Distribution point" /><ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn DpDetail(view: DpDetailView, reload: RwSignal<u32>) -> impl IntoView {
    let edit = ServerAction::<EditDistributionPoint>::new();
    let token = ServerAction::<NewEnrollmentToken>::new();
    let revoke = ServerAction::<RevokeDistributionPoint>::new();
    let delete = ServerAction::<DeleteDistributionPoint>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if matches!(edit.value().get(), Some(Ok(())))
            || matches!(revoke.value().get(), Some(Ok(())))
        {
            reload.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if matches!(delete.value().get(), Some(Ok(()))) {
            navigate("/distribution-points", Default::default());
        }
    });
    let row = view.row.clone();
    let id = row.id;
    let title = format!("Distribution point {}", row.name);
    let site = row.site;
    let busy = view
        .contents
        .iter()
        .any(|p| matches!(p.state.as_str(), "waiting" | "in-progress" | "removing"));
    if busy {
        every(REFRESH, move || reload.update(|n| *n += 1));
    }
    view! {
        <Title text=title />
        <div class="page-head">
            <h1>{row.name.clone()}</h1>
            <span class=format!("badge dp-{}", row.health)>{row.health_label.clone()}</span>
        </div>
        <dl class="facts">
            <dt>"Kind"</dt><dd>{row.kind.clone()}</dd>
            <dt>"Last contact"</dt><dd>{when(row.last_contact_ms)}</dd>
            <dt>"Enrolled"</dt><dd>{when(view.enrolled_at_ms)}</dd>
            {view.revoked_at_ms.map(|t| view! { <dt>"Revoked"</dt><dd>{format::utc(t)}</dd> })}
            <dt>"Free space"</dt><dd>{bytes(row.free_bytes)}</dd>
            <dt>"Library size"</dt><dd>{bytes(row.library_bytes)}</dd>
            <dt>"Agent version"</dt><dd>{row.agent_version.clone()}</dd>
            <dt>"Added by"</dt><dd>{format!("{} on {}", view.created_by, format::utc(view.created_at_ms))}</dd>
        </dl>
        <section class="panel" aria-label="Content on this distribution point">
            <h2>"Content"</h2>
            <PairTable pairs=view.contents.clone() show_dp=false />
        </section>
        {view.may_modify.then(|| view! {
            <section class="panel" aria-label="Settings">
                <h2>"Settings"</h2>
                <ActionForm action=edit attr:class="grid">
                    <input type="hidden" name="id" value=id />
                    <input type="hidden" name="row_version" value=row.row_version />
                    <label>"Name" <input name="name" required maxlength="128" value=row.name.clone() readonly=site /></label>
                    <label class="check"><input type="checkbox" name="enabled" checked=row.enabled />"Enabled"</label>
                    {settings_fields(view.settings.clone())}
                    <button type="submit">"Save"</button>
                </ActionForm>
                {action_error(edit.value())}
            </section>
            {(!site).then(|| view! {
                <section class="panel" aria-label="Enrollment">
                    <h2>"Enrollment"</h2>
                    <p class="muted">"A token works once and expires. Making a new one voids the unused ones."</p>
                    <ActionForm action=token>
                        <input type="hidden" name="id" value=id />
                        <button type="submit" class="secondary">"Make an enrollment token"</button>
                    </ActionForm>
                    {action_error(token.value())}
                    {move || token.value().get().and_then(Result::ok).map(|t| view! {
                        <div class="token-once" role="status">
                            <p>{format!("Run this on the DP (the token is shown once, valid until {}):", format::utc(t.expires_at_ms))}</p>
                            <pre class="command">{t.command.clone()}</pre>
                        </div>
                    })}
                    <ActionForm action=revoke>
                        <input type="hidden" name="id" value=id />
                        <button type="submit" class="danger">"Revoke its credential"</button>
                    </ActionForm>
                    {action_error(revoke.value())}
                </section>
            })}
        })}
        {view.may_delete.then(|| view! {
            <ActionForm action=delete>
                <input type="hidden" name="id" value=id />
                <input type="hidden" name="row_version" value=row.row_version />
                <button type="submit" class="danger">"Delete this distribution point"</button>
            </ActionForm>
            {action_error(delete.value())}
        })}
        <SecurityPanel object_type="distribution-point" id />
    }
}

/// Content × DP rows (cards on a phone).
#[component]
fn PairTable(
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
    let object = object_type.clone();
    let status = Resource::new(
        move || (object.clone(), reload.get()),
        move |(object, _)| content_distribution(object, id),
    );
    view! {
        <section class="panel" id="distribution" aria-label="Distribution">
            <h2>"Distribution"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(view) => view! { <ContentDistribution view reload watch_until queued /> }.into_any(),
                        Err(error) => view! { <ErrorBanner error /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ContentDistribution(
    view: ContentDistributionView,
    reload: RwSignal<u32>,
    watch_until: RwSignal<f64>,
    queued: RwSignal<Option<i64>>,
) -> impl IntoView {
    let distribute = ServerAction::<DistributeContent>::new();
    let update = ServerAction::<UpdateDistributionPoints>::new();
    let settings = ServerAction::<SetDistributionSettings>::new();
    Effect::new(move |_| {
        let job = match (distribute.value().get(), update.value().get()) {
            (Some(Ok(job)), _) | (_, Some(Ok(job))) => Some(job),
            _ => None,
        };
        if let Some(job) = job {
            queued.set(Some(job));
            watch_until.set(js_now() + 60_000.0);
            reload.update(|n| *n += 1);
        }
        if matches!(settings.value().get(), Some(Ok(()))) {
            reload.update(|n| *n += 1);
        }
    });
    let busy = view
        .pairs
        .iter()
        .any(|p| matches!(p.state.as_str(), "waiting" | "in-progress" | "removing"));
    if busy {
        watch_until.update(|t| *t = t.max(js_now() + 5_000.0));
    }
    let dps = RwSignal::new(Vec::<i64>::new());
    let groups = RwSignal::new(Vec::<i64>::new());
    let joined = |ids: Vec<i64>| ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let checkboxes = |items: Vec<(i64, String)>, chosen: RwSignal<Vec<i64>>| {
        items
            .into_iter()
            .map(|(id, name)| {
                view! {
                    <label class="check">
                        <input type="checkbox"
                            prop:checked=move || chosen.get().contains(&id)
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                chosen.update(|c| { c.retain(|x| *x != id); if on { c.push(id); } });
                            } />
                        {name}
                    </label>
                }
            })
            .collect_view()
    };
    let object_type = view.object_type.clone();
    let (for_update, for_settings) = (object_type.clone(), object_type.clone());
    let id = view.object_id;
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
        <PairTable pairs=view.pairs.clone() show_dp=true actions=(view.may_distribute, view.may_validate) />
        {view.may_distribute.then(|| view! {
            <ActionForm action=distribute attr:class="grid" attr:aria-label="Distribute content">
                <input type="hidden" name="object_type" value=object_type.clone() />
                <input type="hidden" name="object_id" value=id />
                <input type="hidden" name="dps" prop:value=move || joined(dps.get()) />
                <input type="hidden" name="groups" prop:value=move || joined(groups.get()) />
                <fieldset><legend>"Distribution points"</legend>{checkboxes(view.dps.clone(), dps)}</fieldset>
                {(!view.groups.is_empty()).then(|| view! {
                    <fieldset><legend>"Groups"</legend>{checkboxes(view.groups.clone(), groups)}</fieldset>
                })}
                <button type="submit">"Distribute content"</button>
            </ActionForm>
            {action_error(distribute.value())}
            {(view.summary.total > 0).then(|| view! {
                <ActionForm action=update>
                    <input type="hidden" name="object_type" value=for_update.clone() />
                    <input type="hidden" name="object_id" value=id />
                    <button type="submit" class="secondary">"Update distribution points"</button>
                </ActionForm>
                {action_error(update.value())}
            })}
        })}
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
                    <label class="check"><input type="checkbox" name="on_demand" checked=view.on_demand />"Distribute to preferred DPs on demand"</label>
                    <button type="submit" class="secondary">"Save"</button>
                </ActionForm>
                {action_error(settings.value())}
            </details>
        })}
    }
}

#[component]
pub fn DistributionStatusPage() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let status = Resource::new(move || reload.get(), |_| distribution_status());
    every(REFRESH, move || reload.update(|n| *n += 1));
    view! {
        <Title text="Distribution status" />
        <div class="page-head"><h1>"Distribution status"</h1><a href="/distribution-points">"Distribution points"</a></div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match status.await {
                    Ok(view) => view! { <StatusBody view /> }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn StatusBody(view: StatusView) -> impl IntoView {
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
    view! {
        <ul class="tiles" aria-label="Summary">
            <li><strong>{s.success}</strong>" in place"</li>
            <li><strong>{s.in_progress}</strong>" in progress"</li>
            <li><strong>{s.waiting}</strong>" waiting"</li>
            <li class=failed_class><strong>{s.failed}</strong>" failed"</li>
        </ul>
        <p class="muted">{library}</p>
        <PairTableWithContent pairs=view.pairs />
    }
}

/// Every pair: content and DP both shown.
#[component]
fn PairTableWithContent(pairs: Vec<PairView>) -> impl IntoView {
    if pairs.is_empty() {
        return view! { <p class="muted">"Nothing distributed yet."</p> }.into_any();
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
