//! Roles: the built-in roles (read-only), copies of them, and editing a custom role's
//! permissions.

use std::collections::BTreeSet;

use leptos::prelude::*;
use leptos_meta::Title;

use super::{SecurityNav, confirmed_feedback};
use crate::{
    api::security::{
        CopyRole, DeleteRole, EditRole, ObjectTypeView, RoleRow, RolesView, list_roles,
    },
    components::error::ErrorBanner,
};

#[component]
pub fn RolesPage() -> impl IntoView {
    let copy = ServerAction::<CopyRole>::new();
    let edit = ServerAction::<EditRole>::new();
    let delete = ServerAction::<DeleteRole>::new();
    let list = Resource::new(
        move || {
            (
                copy.version().get(),
                edit.version().get(),
                delete.version().get(),
            )
        },
        |_| list_roles(),
    );
    view! {
        <Title text="Roles" />
        <div class="page-head"><h1>"Roles"</h1></div>
        <SecurityNav />
        <p class="muted">"Built-in roles cannot change; copy one to make a custom role, then edit the copy. A user's rights are the union of their roles, each on its security scopes."</p>
        {confirmed_feedback(copy)}
        {confirmed_feedback(edit)}
        {confirmed_feedback(delete)}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(view) => view! { <Roles view copy edit delete /> }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Roles(
    view: RolesView,
    copy: ServerAction<CopyRole>,
    edit: ServerAction<EditRole>,
    delete: ServerAction<DeleteRole>,
) -> impl IntoView {
    let types = view.object_types.clone();
    view! {
        {view.roles.into_iter().map(|role| {
            let copy_name = format!("{} (copy)", role.name);
            let copy_description = role.description.clone();
            let delete_label = format!("Delete \"{}\"", role.name);
            let copy_form = view.may_copy.then(|| view! {
                <ActionForm action=copy attr:class="row">
                    <input type="hidden" name="from" value=role.id />
                    <label>"Name of the copy" <input name="name" required maxlength="64" value=copy_name /></label>
                    <input type="hidden" name="description" value=copy_description />
                    <button type="submit" class="secondary">"Copy"</button>
                </ActionForm>
            });
            let editor = (!role.builtin && view.may_edit).then(|| view! { <RoleEditor role=role.clone() types=types.clone() edit /> });
            let remove = (!role.builtin && view.may_delete).then(|| view! {
                <ActionForm action=delete attr:class="row">
                    <input type="hidden" name="id" value=role.id />
                    <button type="submit" class="danger">{delete_label}</button>
                </ActionForm>
            });
            view! {
                <details class="panel" data-role=role.name.clone()>
                    <summary>
                        {role.name.clone()}
                        {role.slug.clone().map(|s| view! { " " <span class="muted">{format!("({s}, built in)")}</span> })}
                    </summary>
                    <p>{role.description.clone()}</p>
                    <div class="table-scroll">
                        <table class="list" aria-label=format!("Permissions of {}", role.name)>
                            <thead><tr><th>"Object type"</th><th>"Operations"</th></tr></thead>
                            <tbody>
                                {role.granted.iter().map(|g| view! {
                                    <tr><td data-label="Object type">{g.label.clone()}</td><td data-label="Operations">{g.operations.join(", ")}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                    {copy_form}
                    {editor}
                    {remove}
                </details>
            }
        }).collect_view()}
    }
}

/// A checkbox per object type and operation; posted as `type:operation` pairs.
#[component]
fn RoleEditor(
    role: RoleRow,
    types: Vec<ObjectTypeView>,
    edit: ServerAction<EditRole>,
) -> impl IntoView {
    let granted: BTreeSet<String> = role
        .granted
        .iter()
        .flat_map(|g| {
            g.operations
                .iter()
                .map(move |o| format!("{}:{o}", g.object_type))
        })
        .collect();
    let picked = RwSignal::new(granted);
    let value = move || picked.get().into_iter().collect::<Vec<_>>().join(",");
    view! {
        <ActionForm action=edit attr:class="grid">
            <input type="hidden" name="id" value=role.id />
            <input type="hidden" name="row_version" value=role.row_version />
            <input type="hidden" name="permissions" prop:value=value />
            <label>"Name" <input name="name" required maxlength="64" value=role.name.clone() /></label>
            <label>"Description" <input name="description" value=role.description.clone() /></label>
            {types.into_iter().map(|t| view! {
                <fieldset>
                    <legend>{t.label.clone()}</legend>
                    {t.operations.into_iter().map(|(op, label)| {
                        let key = format!("{}:{op}", t.slug);
                        let k1 = key.clone();
                        view! {
                            <label>
                                <input
                                    type="checkbox"
                                    prop:checked=move || picked.read().contains(&k1)
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        let key = key.clone();
                                        picked.update(|p| { if on { p.insert(key); } else { p.remove(&key); } });
                                    }
                                />
                                {label}
                            </label>
                        }
                    }).collect_view()}
                </fieldset>
            }).collect_view()}
            <button type="submit">"Save role"</button>
        </ActionForm>
    }
}
