//! The Distribution points page (DPs, groups, adding either) and a DP's page (settings,
//! enrollment, revoke, delete, its content).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::Form,
    hooks::{use_navigate, use_params_map, use_query_map},
};

use super::{IDLE_REFRESH, Pager, PairTable, REFRESH, bytes, follow, page_links, when};
use crate::{
    api::distribution::{
        CreateDistributionPoint, CreateDpGroup, DeleteDistributionPoint, DeleteDpGroup,
        DpDetailView, DpListView, EditDistributionPoint, NewEnrollmentToken,
        RevokeDistributionPoint, SetDpGroupMembers, distribution_point_detail,
        list_distribution_points, live::Follow,
    },
    components::error::{ErrorBanner, action_error},
    format,
    pages::{jobs::widgets::every, security::SecurityPanel},
};

/// The statuses the list filters by: (value, label).
const HEALTH: [(&str, &str); 5] = [
    ("online", "Online"),
    ("offline", "Offline"),
    ("not-enrolled", "Not enrolled"),
    ("disabled", "Disabled"),
    ("revoked", "Revoked"),
];

/// How many members a group names before "and N more".
const NAMED_MEMBERS: usize = 8;

#[component]
pub fn DistributionPointsPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).unwrap_or_default();
    let reload = RwSignal::new(0u32);
    let list = Resource::new(
        move || (param("q"), param("health"), param("page"), reload.get()),
        |(q, health, page, _)| list_distribution_points(Some(q), Some(health), page.parse().ok()),
    );
    every(REFRESH * 5, move || reload.update(|n| *n += 1));
    view! {
        <Title text="Distribution points" />
        <div class="page-head"><h1>"Distribution points"</h1><a href="/distribution">"Distribution status"</a></div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(view) => view! { <DpList view reload q=param("q") health=param("health") /> }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn DpList(view: DpListView, reload: RwSignal<u32>, q: String, health: String) -> impl IntoView {
    let may_create = view.may_create;
    let all = StoredValue::new(view.choices);
    let go = page_links(
        "/distribution-points",
        vec![("q", q.clone()), ("health", health.clone())],
    );
    view! {
        <p class="muted">{format!("A DP that has not reported for {} minutes is shown offline.", view.offline_after_minutes)}</p>
        <Form method="GET" action="/distribution-points" attr:class="filters">
            <label>"Filter"
                <input type="search" name="q" value=q.clone() placeholder="Name or description" />
            </label>
            <label>"Status"
                <select name="health">
                    <option value="" selected=health.is_empty()>"Any"</option>
                    {HEALTH.iter().map(|(v, l)| view! { <option value=*v selected=health == *v>{*l}</option> }).collect_view()}
                </select>
            </label>
            <button type="submit" class="secondary">"Filter"</button>
        </Form>
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
        <Pager info=view.page go />
        <section class="panel" aria-label="Distribution point groups">
            <h2>"Groups"</h2>
            {view.groups.is_empty().then(|| view! { <p class="muted">"No group yet. Content sent to a group goes to each of its members, and to DPs that join it later."</p> })}
            {view.groups.into_iter().map(|g| view! { <GroupRow group=g all may_edit=may_create reload /> }).collect_view()}
            {may_create.then(|| view! { <NewGroup reload /> })}
        </section>
        {may_create.then(|| view! { <NewDp /> })}
    }
}

#[component]
fn GroupRow(
    group: crate::api::distribution::GroupRow,
    /// Every DP, to choose members from.
    all: StoredValue<Vec<(i64, String)>>,
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
    let mut names = group
        .members
        .iter()
        .take(NAMED_MEMBERS)
        .map(|(_, n)| n.clone())
        .collect::<Vec<_>>()
        .join(", ");
    if group.members.len() > NAMED_MEMBERS {
        names.push_str(&format!(
            " and {} more",
            group.members.len() - NAMED_MEMBERS
        ));
    }
    // The member boxes (one per DP) are drawn when the group is opened.
    let open = RwSignal::new(false);
    view! {
        <details class="group" data-group-id=group.id on:toggle=move |ev| {
            use wasm_bindgen::JsCast;
            if let Some(details) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlDetailsElement>().ok()) {
                open.set(details.open());
            }
        }>
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
                        {move || open.get().then(|| all.get_value().into_iter().map(|(id, name)| {
                            view! {
                                <label class="check">
                                    <input type="checkbox"
                                        prop:checked=move || chosen.with(|c| c.contains(&id))
                                        on:change=move |ev| {
                                            let on = event_target_checked(&ev);
                                            chosen.update(|c| { c.retain(|x| *x != id); if on { c.push(id); } });
                                        } />
                                    {name}
                                </label>
                            }
                        }).collect_view())}
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
    follow(move || Follow::Dp(id()), reload);
    every(IDLE_REFRESH, move || reload.update(|n| *n += 1));
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
