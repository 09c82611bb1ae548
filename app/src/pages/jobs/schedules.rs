use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::{
    api::jobs::{CreateSchedule, DeleteSchedule, ScheduleView, SetScheduleEnabled, list_schedules},
    components::error::{ErrorBanner, action_error},
    format,
};

#[component]
pub fn SchedulesPage() -> impl IntoView {
    let create = ServerAction::<CreateSchedule>::new();
    let toggle = ServerAction::<SetScheduleEnabled>::new();
    let delete = ServerAction::<DeleteSchedule>::new();
    let list = Resource::new(
        move || {
            (
                create.version().get(),
                toggle.version().get(),
                delete.version().get(),
            )
        },
        |_| list_schedules(),
    );
    view! {
        <Title text="Schedules" />
        <div class="page-head">
            <h1>"Schedules"</h1>
            <A href="/jobs">"Jobs"</A>
        </div>
        <p class="muted">"Times are UTC. A run missed while the server was down happens once when it starts again."</p>
        {action_error(toggle.value())}
        {action_error(delete.value())}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(view) => {
                        let form = view.may_edit.then(|| view! { <NewScheduleForm create kinds=view.kinds.clone() /> });
                        view! {
                            {view.schedules.is_empty().then(|| view! { <p class="muted">"No schedules yet."</p> })}
                            <div class="table-scroll">
                                <table class="list" aria-label="Schedules">
                                    <thead><tr><th>"Name"</th><th>"Job"</th><th>"When"</th><th>"Next run"</th><th>"Last run"</th><th></th></tr></thead>
                                    <tbody>
                                        {view.schedules.into_iter().map(|s| view! { <ScheduleRow s may_edit=view.may_edit toggle delete /> }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            {form}
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ScheduleRow(
    s: ScheduleView,
    may_edit: bool,
    toggle: ServerAction<SetScheduleEnabled>,
    delete: ServerAction<DeleteSchedule>,
) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let when = match s.spec_kind.as_str() {
        "once" => format!("once, {}", s.spec),
        "interval" => format!("every {}", s.spec),
        _ => format!("cron {}", s.spec),
    };
    let id = s.id;
    view! {
        <tr>
            <td data-label="Name"><span>{s.name.clone()}{(!s.enabled).then(|| view! { " " <span class="badge">"disabled"</span> })}</span></td>
            <td data-label="Job"><span>{s.kind_label.clone()}" "<span class="muted">{s.description.clone()}</span></span></td>
            <td data-label="When">{when}</td>
            <td class="when" data-label="Next run">{if s.enabled { s.next_run_at_ms.map(format::utc) } else { None }.unwrap_or_else(|| "—".into())}</td>
            <td data-label="Last run">{match (s.last_run_at_ms, s.last_job_id) {
                (Some(at), Some(job)) => view! { <a href=format!("/jobs/{job}")>{format::utc(at)}</a> }.into_any(),
                (Some(at), None) => format::utc(at).into_any(),
                _ => "—".into_any(),
            }}</td>
            <td class="actions">
                {may_edit.then(|| view! {
                    <ActionForm action=toggle attr:class="inline">
                        <input type="hidden" name="id" value=id />
                        <input type="hidden" name="enabled" value=(!s.enabled).to_string() />
                        <button type="submit" class="secondary">{if s.enabled { "Disable" } else { "Enable" }}</button>
                    </ActionForm>
                    {move || if confirming.get() {
                        view! {
                            <ActionForm action=delete attr:class="inline">
                                <input type="hidden" name="id" value=id />
                                <button type="submit" class="danger">"Confirm delete"</button>
                            </ActionForm>
                        }.into_any()
                    } else {
                        view! { <button type="button" class="secondary" on:click=move |_| confirming.set(true)>"Delete"</button> }.into_any()
                    }}
                })}
            </td>
        </tr>
    }
}

#[component]
fn NewScheduleForm(
    create: ServerAction<CreateSchedule>,
    kinds: Vec<(String, String)>,
) -> impl IntoView {
    view! {
        <section class="panel" aria-label="New schedule">
            <h2>"New schedule"</h2>
            <ActionForm action=create attr:class="grid">
                <label>"Name" <input name="name" required maxlength="128" /></label>
                <label>"Job"
                    <select name="kind">
                        {kinds.into_iter().map(|(v, l)| view! { <option value=v>{l}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Repeat"
                    <select name="spec_kind">
                        <option value="interval">"Every (e.g. 6h, 1d)"</option>
                        <option value="cron">"Cron pattern, UTC (e.g. 30 3 * * *)"</option>
                        <option value="once">"Once (e.g. 2026-12-01T03:00:00Z)"</option>
                    </select>
                </label>
                <label>"When" <input name="spec" required placeholder="1d" /></label>
                <label>"Storage check size (MiB)" <input name="size_mib" type="number" min="1" value="1024" /></label>
                <label>"Prune: older than (days)" <input name="older_than_days" type="number" min="1" placeholder="default" /></label>
                <button type="submit">"Create schedule"</button>
            </ActionForm>
            {action_error(create.value())}
        </section>
    }
}
