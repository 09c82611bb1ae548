//! Security scopes: create, rename, delete, and what is in each.

use leptos::prelude::*;
use leptos_meta::Title;

use super::SecurityNav;
use crate::{
    api::security::{CreateScope, DeleteScope, EditScope, ScopesView, list_scopes},
    components::error::{ErrorBanner, action_error},
};

#[component]
pub fn ScopesPage() -> impl IntoView {
    let create = ServerAction::<CreateScope>::new();
    let edit = ServerAction::<EditScope>::new();
    let delete = ServerAction::<DeleteScope>::new();
    let list = Resource::new(
        move || {
            (
                create.version().get(),
                edit.version().get(),
                delete.version().get(),
            )
        },
        |_| list_scopes(),
    );
    view! {
        <Title text="Security scopes" />
        <div class="page-head"><h1>"Security scopes"</h1></div>
        <SecurityNav />
        <p class="muted">"Every image and driver package is in at least one scope; a role assigned on some scopes applies only to the objects in them."</p>
        {action_error(edit.value())}
        {action_error(delete.value())}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(view) => view! { <Scopes view create edit delete /> }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Scopes(
    view: ScopesView,
    create: ServerAction<CreateScope>,
    edit: ServerAction<EditScope>,
    delete: ServerAction<DeleteScope>,
) -> impl IntoView {
    let add = view.may_create.then(|| {
        view! {
            <section class="panel" aria-label="Create security scope">
                <h2>"Create security scope"</h2>
                <ActionForm action=create attr:class="row">
                    <label>"Name" <input name="name" required maxlength="64" /></label>
                    <label>"Description" <input name="description" /></label>
                    <button type="submit">"Create"</button>
                </ActionForm>
                {action_error(create.value())}
            </section>
        }
    });
    view! {
        <div class="table-scroll">
            <table class="list" aria-label="Security scopes">
                <thead><tr><th>"Scope"</th><th>"Description"</th><th>"Objects"</th><th>"Assigned to"</th></tr></thead>
                <tbody>
                    {view.scopes.iter().map(|s| view! {
                        <tr data-scope=s.name.clone()>
                            <td data-label="Scope">{s.name.clone()}{s.builtin.then_some(" (built in)")}</td>
                            <td data-label="Description">{s.description.clone()}</td>
                            <td data-label="Objects">
                                {if s.objects.is_empty() { "none".to_owned() } else {
                                    s.objects.iter().map(|(t, n)| format!("{n} {t}")).collect::<Vec<_>>().join(", ")
                                }}
                            </td>
                            <td data-label="Assigned to">{if s.assigned.is_empty() { "nobody (only all-scope roles)".to_owned() } else { s.assigned.join(", ") }}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        {add}
        {view.scopes.into_iter().filter(|s| !s.builtin && (view.may_modify || view.may_delete)).map(|s| {
            let delete_label = format!("Delete \"{}\"", s.name);
            view! {
            <details class="panel">
                <summary>{format!("Change {}", s.name)}</summary>
                {view.may_modify.then(|| view! {
                    <ActionForm action=edit attr:class="row">
                        <input type="hidden" name="id" value=s.id />
                        <input type="hidden" name="row_version" value=s.row_version />
                        <label>"Name" <input name="name" required maxlength="64" value=s.name.clone() /></label>
                        <label>"Description" <input name="description" value=s.description.clone() /></label>
                        <button type="submit" class="secondary">"Save"</button>
                    </ActionForm>
                })}
                {view.may_delete.then(|| view! {
                    <ActionForm action=delete attr:class="row">
                        <input type="hidden" name="id" value=s.id />
                        <button type="submit" class="danger">{delete_label}</button>
                        <span class="muted">"Only an empty scope that no role is assigned on can go."</span>
                    </ActionForm>
                })}
            </details>
        }}).collect_view()}
    }
}
