use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{api::session::CompleteSetup, components::error::action_error};

/// The page behind the one-time setup link: creates the first Full Administrator.
#[component]
pub fn SetupPage() -> impl IntoView {
    let action = ServerAction::<CompleteSetup>::new();
    let token = move || use_query_map().read().get("token").unwrap_or_default();

    view! {
        <Title text="Set up" />
        <main class="card narrow">
            <h1>"Set up Wimdeck"</h1>
            <p class="muted">"Create the first account. It gets the Full Administrator role."</p>
            <ActionForm action>
                <input type="hidden" name="token" value=token />
                <label>"User name" <input name="username" autocomplete="username" required autofocus /></label>
                <label>"Password (at least 12 characters)"
                    <input name="password" type="password" autocomplete="new-password" minlength="12" required />
                </label>
                <label>"Password again"
                    <input name="password_again" type="password" autocomplete="new-password" minlength="12" required />
                </label>
                {action_error(action.value())}
                <button type="submit" disabled=move || action.pending().get()>"Create account"</button>
            </ActionForm>
        </main>
    }
}
