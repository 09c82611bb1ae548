//! The dashboard: the catalog, the jobs that need a look and the images whose check failed,
//! then the installation's status.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::{
    api::dashboard::{CatalogFigure, DashboardLink, DashboardView, JobsFigure, dashboard_status},
    components::error::ErrorBanner,
};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let status = Resource::new(|| (), |_| dashboard_status());

    view! {
        <Title text="Dashboard" />
        <h1>"Dashboard"</h1>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match status.await {
                    Ok(s) => view! { <Overview s /> }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Overview(s: DashboardView) -> impl IntoView {
    let damaged = (!s.damaged.is_empty()).then(|| {
        view! {
            <section class="panel attention" aria-label="Images that need attention">
                <h2>"Images that need attention"</h2>
                <Links links=s.damaged.clone() />
            </section>
        }
    });
    view! {
        <section class="tiles" aria-label="Catalog">
            {s.catalog.into_iter().map(|figure| view! { <Figure figure /> }).collect_view()}
        </section>
        {damaged}
        {s.jobs.map(|jobs| view! { <Jobs jobs /> })}
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
            {s.users.map(|users| view! {
                <a class="tile" href="/security/users" data-testid="users">
                    <h2>"Users"</h2>
                    <p class="figure">{users}</p>
                    <p class="muted">{format!("{} active session(s)", s.active_sessions.unwrap_or_default())}</p>
                </a>
            })}
        </section>
    }
}

/// One catalog area: its count, and what in it needs a look.
#[component]
fn Figure(figure: CatalogFigure) -> impl IntoView {
    let attention = if figure.attention.is_empty() {
        view! { <p class="muted">"All in order"</p> }.into_any()
    } else {
        let text = figure
            .attention
            .iter()
            .map(|(state, n)| format!("{n} {state}"))
            .collect::<Vec<_>>()
            .join(", ");
        view! { <p class="needs-look">{text}</p> }.into_any()
    };
    view! {
        <a class="tile" href=figure.href.clone() data-testid=format!("catalog-{}", figure.href.trim_start_matches('/'))>
            <h2>{figure.label.clone()}</h2>
            <p class="figure">{figure.total}</p>
            {attention}
        </a>
    }
}

#[component]
fn Jobs(jobs: JobsFigure) -> impl IntoView {
    view! {
        <section class="panel" aria-label="Jobs">
            <h2>"Jobs"</h2>
            <p>
                <a href="/jobs?state=running" data-testid="running-jobs">{format!("{} running", jobs.running_count)}</a>
                ", "
                <a href="/jobs?state=queued">{format!("{} queued", jobs.queued)}</a>
            </p>
            <Links links=jobs.running />
            <h3>"Failed in the last 24 hours"</h3>
            {if jobs.failed.is_empty() {
                view! { <p class="muted" data-testid="failed-jobs">"None."</p> }.into_any()
            } else {
                view! { <div data-testid="failed-jobs"><Links links=jobs.failed /></div> }.into_any()
            }}
        </section>
    }
}

#[component]
fn Links(links: Vec<DashboardLink>) -> impl IntoView {
    view! {
        <ul class="plain links">
            {links.into_iter().map(|l| view! {
                <li><a href=l.href>{l.text}</a>" "<span class="muted">{l.detail}</span></li>
            }).collect_view()}
        </ul>
    }
}
