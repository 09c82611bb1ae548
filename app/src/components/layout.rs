//! The console's frame: a header with the signed-in user, a sidebar on wide screens and a
//! compact menu on phones, and the page in between.

use leptos::prelude::*;
use leptos_router::components::{A, Outlet};

use crate::{
    AppError,
    api::session::{SignOut, whoami},
    pages::jobs::RunningIndicator,
};

/// The console's areas; only those that work are listed.
const AREAS: &[(&str, &str)] = &[
    ("/", "Dashboard"),
    ("/boot-images", "Boot Images"),
    ("/os-images", "OS Images"),
    ("/drivers", "Drivers"),
    ("/distribution-points", "Distribution Points"),
    ("/distribution", "Distribution Status"),
    ("/jobs", "Jobs"),
];

#[component]
pub fn ConsoleLayout() -> impl IntoView {
    let user = Resource::new(|| (), |_| whoami());
    let sign_out = ServerAction::<SignOut>::new();
    // The compact menu closes once one of its links is followed.
    let menu = NodeRef::<leptos::html::Details>::new();
    let close_menu = move |_| {
        if let Some(details) = menu.get_untracked() {
            details.set_open(false);
        }
    };

    let nav_links = || {
        AREAS
            .iter()
            .map(|(href, label)| view! { <li><A href=*href exact=*href == "/">{*label}</A></li> })
            .collect_view()
    };

    view! {
        <header class="topbar">
            <details class="menu" node_ref=menu>
                <summary aria-label="Menu">"☰"</summary>
                <nav aria-label="Console areas (compact)" on:click=close_menu><ul>{nav_links()}</ul></nav>
            </details>
            <a class="brand" href="/">"Wimdeck"</a>
            <div class="who">
                <RunningIndicator />
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match user.await {
                            Ok(u) => view! {
                                {u.security.then(|| view! { <a href="/security/users">"Security"</a> })}
                                {(u.audit && !u.security).then(|| view! { <a href="/security/audit">"Audit log"</a> })}
                                <a class="username" href="/account" title=u.roles.join(", ")>{u.username}</a>
                            }.into_any(),
                            Err(AppError::Unauthenticated) => view! { <a href="/sign-in">"Sign in again"</a> }.into_any(),
                            Err(_) => ().into_any(),
                        }
                    })}
                </Suspense>
                <ActionForm action=sign_out attr:class="inline">
                    <button type="submit" class="secondary">"Sign out"</button>
                </ActionForm>
            </div>
        </header>
        <div class="frame">
            <nav class="sidebar" aria-label="Console areas"><ul>{nav_links()}</ul></nav>
            <main>
                <Outlet />
            </main>
        </div>
    }
}
