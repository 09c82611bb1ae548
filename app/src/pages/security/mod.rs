//! Security administration: users, roles, security scopes, the audit log, the caller's own
//! account (API tokens), and the Security panel of scoped objects.

mod account;
mod audit;
mod object;
mod roles;
mod scopes;
mod users;

pub use account::AccountPage;
pub use audit::AuditPage;
pub use object::SecurityPanel;
pub use roles::RolesPage;
pub use scopes::ScopesPage;
pub use users::UsersPage;

use std::collections::BTreeSet;

use leptos::{prelude::*, server_fn::ServerFn};

use crate::{
    AppError,
    api::{
        security::{Choice, ConfirmPassword},
        session::whoami,
    },
    components::error::ErrorBanner,
};

/// The tabs above the security pages: those the user may open.
#[component]
fn SecurityNav() -> impl IntoView {
    let user = Resource::new(|| (), |_| whoami());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let (security, audit) = user.await.map_or((false, false), |u| (u.security, u.audit));
                view! {
                    <nav class="tabs" aria-label="Security">
                        {security.then(|| view! {
                            <a href="/security/users">"Users"</a>
                            <a href="/security/roles">"Roles"</a>
                            <a href="/security/scopes">"Security scopes"</a>
                        })}
                        {audit.then(|| view! { <a href="/security/audit">"Audit log"</a> })}
                    </nav>
                }
            })}
        </Suspense>
    }
}

/// The result of a security-sensitive action: its error, or, when the server asks for the
/// password again, a password field that confirms it and then repeats the action.
pub(crate) fn confirmed_feedback<S>(action: ServerAction<S>) -> impl IntoView
where
    S: ServerFn<Error = AppError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    let last = StoredValue::new(None::<S>);
    Effect::new(move |_| {
        if let Some(input) = action.input().get() {
            last.set_value(Some(input));
        }
    });
    let confirm = ServerAction::<ConfirmPassword>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = confirm.value().get()
            && let Some(input) = last.get_value()
        {
            confirm.value().set(None);
            action.dispatch(input);
        }
    });
    move || {
        match action.value().get() {
        Some(Err(AppError::ReauthenticationRequired(what))) => Some(
            view! {
                <div class="reauth" role="alert">
                    <p>{format!("Enter your password again to {what}; the change is made once it is confirmed.")}</p>
                    <ActionForm action=confirm attr:class="row">
                        <label>"Your password" <input type="password" name="password" required autocomplete="current-password" /></label>
                        <button type="submit">"Confirm and continue"</button>
                    </ActionForm>
                    {move || match confirm.value().get() {
                        Some(Err(error)) => Some(view! { <ErrorBanner error /> }),
                        _ => None,
                    }}
                </div>
            }
            .into_any(),
        ),
        Some(Err(error)) => Some(view! { <ErrorBanner error /> }.into_any()),
        _ => None,
    }
    }
}

/// Checkboxes for security scopes (and "All scopes" when `allow_all`), posted as one field
/// `scopes`: `all` or ids separated by commas.
#[component]
pub(crate) fn ScopePicker(
    scopes: Vec<Choice>,
    #[prop(optional)] allow_all: bool,
    #[prop(optional)] chosen: Vec<i64>,
    #[prop(default = "Security scopes")] legend: &'static str,
) -> impl IntoView {
    let all = RwSignal::new(false);
    let picked = RwSignal::new(chosen.into_iter().collect::<BTreeSet<i64>>());
    let value = move || {
        if all.get() {
            "all".to_owned()
        } else {
            picked
                .get()
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    view! {
        <fieldset class="scopes">
            <legend>{legend}</legend>
            <input type="hidden" name="scopes" prop:value=value />
            {allow_all.then(|| view! {
                <label>
                    <input type="checkbox" prop:checked=move || all.get() on:change=move |ev| all.set(event_target_checked(&ev)) />
                    "All scopes (also those made later)"
                </label>
            })}
            {scopes.into_iter().map(|(id, name)| view! {
                <label>
                    <input
                        type="checkbox"
                        prop:disabled=move || all.get()
                        prop:checked=move || picked.read().contains(&id)
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            picked.update(|p| { if on { p.insert(id); } else { p.remove(&id); } });
                        }
                    />
                    {name}
                </label>
            }).collect_view()}
        </fieldset>
    }
}
