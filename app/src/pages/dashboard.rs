use leptos::prelude::*;
use leptos_meta::Title;

use crate::{api::dashboard::dashboard_status, components::error::ErrorBanner};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let status = Resource::new(|| (), |_| dashboard_status());

    view! {
        <Title text="Dashboard" />
        <h1>"Dashboard"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match status.await {
                    Ok(s) => view! {
                        <section class="tiles" aria-label="Status">
                            <div class="tile" data-testid="signed-in-as">
                                <h2>"Signed in as"</h2>
                                <p class="figure">{s.user.username.clone()}</p>
                                <p class="muted">{s.user.roles.join(", ")}</p>
                            </div>
                            <div class="tile" data-testid="version">
                                <h2>"Version"</h2>
                                <p class="figure">{s.version.clone()}</p>
                            </div>
                            <div class="tile" data-testid="database">
                                <h2>"Database"</h2>
                                <p class="figure">{s.database_kind.clone()}</p>
                                <p class="muted">{format!("version {}", s.database_version)}</p>
                            </div>
                            <div class="tile" data-testid="users">
                                <h2>"Users"</h2>
                                <p class="figure">{s.users}</p>
                            </div>
                            <div class="tile" data-testid="sessions">
                                <h2>"Active sessions"</h2>
                                <p class="figure">{s.active_sessions}</p>
                            </div>
                            <a class="tile" href="/jobs?state=running" data-testid="running-jobs">
                                <h2>"Jobs running"</h2>
                                <p class="figure">{s.running_jobs}</p>
                                <p class="muted">{format!("{} queued", s.queued_jobs)}</p>
                            </a>
                        </section>
                    }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}
