use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::{api::session::SignIn, components::error::action_error};

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let next = move || {
        use_query_map()
            .read()
            .get("next")
            .unwrap_or_else(|| "/".to_owned())
    };

    view! {
        <Title text="Sign in" />
        <main class="card narrow">
            <h1>"Wimdeck"</h1>
            <p class="muted">"Sign in to manage boot and OS images."</p>
            <ActionForm action>
                <input type="hidden" name="next" value=next />
                <label>"User name" <input name="username" autocomplete="username" required autofocus /></label>
                <label>"Password" <input name="password" type="password" autocomplete="current-password" required /></label>
                {action_error(action.value())}
                <button type="submit" disabled=move || action.pending().get()>"Sign in"</button>
            </ActionForm>
        </main>
    }
}
