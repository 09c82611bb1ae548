//! Users: create, disable, reset a password, assign roles on scopes, remove assignments.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{ScopePicker, SecurityNav, confirmed_feedback};
use crate::{
    api::security::{
        AssignRole, CreateUser, ResetUserPassword, SetUserDisabled, UnassignRole, UserRow,
        UsersView, list_users,
    },
    components::error::ErrorBanner,
    format,
};

#[component]
pub fn UsersPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    let disable = ServerAction::<SetUserDisabled>::new();
    let reset = ServerAction::<ResetUserPassword>::new();
    let assign = ServerAction::<AssignRole>::new();
    let unassign = ServerAction::<UnassignRole>::new();
    let actions = Actions {
        disable,
        reset,
        assign,
        unassign,
    };
    let list = Resource::new(
        move || {
            (
                create.version().get(),
                disable.version().get(),
                reset.version().get(),
                assign.version().get(),
                unassign.version().get(),
            )
        },
        |_| list_users(),
    );
    view! {
        <Title text="Users" />
        <div class="page-head"><h1>"Users"</h1></div>
        <SecurityNav />
        // Above the list, which reloads after every attempt: the password prompt must keep the
        // attempt it repeats.
        {confirmed_feedback(create)}
        {confirmed_feedback(disable)}
        {confirmed_feedback(reset)}
        {confirmed_feedback(assign)}
        {confirmed_feedback(unassign)}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(view) => view! { <Users view create actions /> }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[derive(Clone, Copy)]
struct Actions {
    disable: ServerAction<SetUserDisabled>,
    reset: ServerAction<ResetUserPassword>,
    assign: ServerAction<AssignRole>,
    unassign: ServerAction<UnassignRole>,
}

#[component]
fn Users(view: UsersView, create: ServerAction<CreateUser>, actions: Actions) -> impl IntoView {
    let roles = view.roles.clone();
    let scopes = view.scopes.clone();
    let add = view.may_create.then(|| {
        let roles = roles.clone();
        let scopes = scopes.clone();
        view! {
            <section class="panel" aria-label="Create user">
                <h2>"Create user"</h2>
                <ActionForm action=create attr:class="grid">
                    <label>"User name" <input name="username" required maxlength="64" autocomplete="off" /></label>
                    <label>"Initial password" <input type="password" name="password" required minlength="12" autocomplete="new-password" /></label>
                    <label>"Role"
                        <select name="role_id">
                            {roles.into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
                        </select>
                    </label>
                    <ScopePicker scopes allow_all=true />
                    <button type="submit">"Create user"</button>
                </ActionForm>
            </section>
        }
    });
    view! {
        <div class="table-scroll">
            <table class="list" aria-label="Users">
                <thead><tr><th>"User"</th><th>"State"</th><th>"Last sign-in"</th><th>"Roles and scopes"</th></tr></thead>
                <tbody>
                    {view.users.iter().map(|u| view! {
                        <tr data-user=u.username.clone()>
                            <td data-label="User">{u.username.clone()}</td>
                            <td data-label="State">{if u.disabled { "Disabled" } else { "Enabled" }}</td>
                            <td class="when" data-label="Last sign-in">{u.last_sign_in_at_ms.map_or_else(|| "never".to_owned(), format::utc)}</td>
                            <td data-label="Roles and scopes">
                                <ul class="plain">
                                    {u.assignments.iter().map(|a| view! { <li>{format!("{} — {}", a.role, a.scopes)}</li> }).collect_view()}
                                </ul>
                            </td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        {add}
        {view.users.into_iter().filter(|u| u.id != view.me).map(|u| {
            view! {
                <UserActions
                    user=u
                    roles=roles.clone()
                    scopes=scopes.clone()
                    may_modify=view.may_modify
                    may_assign=view.may_assign
                    actions
                />
            }
        }).collect_view()}
    }
}

#[component]
fn UserActions(
    user: UserRow,
    roles: Vec<(i64, String)>,
    scopes: Vec<(i64, String)>,
    may_modify: bool,
    may_assign: bool,
    actions: Actions,
) -> impl IntoView {
    if !may_modify && !may_assign {
        return ().into_any();
    }
    let id = user.id;
    let modify = may_modify.then(|| view! {
        <ActionForm action=actions.disable attr:class="row">
            <input type="hidden" name="user_id" value=id />
            <input type="hidden" name="disabled" value=(!user.disabled).to_string() />
            <button type="submit" class="secondary">{if user.disabled { "Enable user" } else { "Disable user" }}</button>
            <span class="muted">"Disabling ends the user's sessions and stops their API tokens."</span>
        </ActionForm>
        <ActionForm action=actions.reset attr:class="row">
            <input type="hidden" name="user_id" value=id />
            <label>"New password" <input type="password" name="password" required minlength="12" autocomplete="new-password" /></label>
            <button type="submit" class="secondary">"Reset password"</button>
        </ActionForm>
    });
    let assignments = user.assignments.clone();
    let assign = may_assign.then(|| view! {
        <ul class="plain">
            {assignments.into_iter().map(|a| view! {
                <li>
                    <ActionForm action=actions.unassign attr:class="row">
                        <input type="hidden" name="assignment_id" value=a.id />
                        <span>{format!("{} — {}", a.role, a.scopes)}</span>
                        <button type="submit" class="secondary">"Remove"</button>
                    </ActionForm>
                </li>
            }).collect_view()}
        </ul>
        <ActionForm action=actions.assign attr:class="grid">
            <input type="hidden" name="user_id" value=id />
            <label>"Add role"
                <select name="role_id">
                    {roles.into_iter().map(|(id, name)| view! { <option value=id>{name}</option> }).collect_view()}
                </select>
            </label>
            <ScopePicker scopes allow_all=true />
            <button type="submit">"Assign"</button>
        </ActionForm>
    });
    view! {
        <details class="panel" data-user-actions=user.username.clone()>
            <summary>{format!("Change {}", user.username)}</summary>
            {modify}
            {assign}
        </details>
    }
    .into_any()
}
