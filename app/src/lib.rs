//! Wimdeck's user interface and its wire contract.
//!
//! [`App`] is the Leptos application (rendered on the server, hydrated in the browser);
//! [`api`] holds the server functions and the view types they return, one module per area;
//! [`pages`] has one module per console area and [`components`] the shared pieces (layout,
//! navigation, error display). Errors cross the wire as [`AppError`].
//!
//! Built with `ssr` for the server (then it depends on `domain`) and with `hydrate` for the
//! browser (then it never does).

pub mod api;
pub mod components;
mod error;
pub mod format;
pub mod pages;

pub use error::AppError;

use leptos::prelude::*;
use leptos_meta::{Link, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path,
};

use components::layout::ConsoleLayout;
use pages::{
    dashboard::DashboardPage,
    drivers::{DriverPage, DriversPage},
    images::{
        AddBootImagePage, AddOsImagePage, BootImagePage, BootImagesPage, OsImagePage, OsImagesPage,
    },
    jobs::{JobDetailPage, JobsPage, SchedulesPage},
    not_found::NotFoundPage,
    security::{AccountPage, AuditPage, RolesPage, ScopesPage, UsersPage},
    setup::SetupPage,
    sign_in::SignInPage,
};

/// The HTML document around the application; server only. It provides the per-request nonce
/// that lets the hydration script run under the Content-Security-Policy, and sets that policy.
#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    use leptos_meta::MetaTags;

    leptos::nonce::provide_nonce();
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) && let Ok(value) = http::HeaderValue::from_str(&content_security_policy(&nonce))
    {
        response.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
    }
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The policy for HTML pages: only our own script (plus the nonce'd bootstrap), wasm allowed to
/// compile, no inline styles, no framing.
#[cfg(feature = "ssr")]
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// The application: routes and the document head they share.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Set once the wasm has taken over the page; end-to-end tests wait for it.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    view! {
        <Stylesheet id="wimdeck" href="/pkg/wimdeck.css" />
        <Link rel="icon" type_="image/svg+xml" href="/pkg/favicon.svg" />
        <Title formatter=|page: String| {
            if page.is_empty() { "Wimdeck".to_owned() } else { format!("{page} · Wimdeck") }
        } />
        <Router>
            <div class="app" data-hydrated=move || hydrated.get().to_string()>
                <Routes fallback=NotFoundPage>
                    <Route path=path!("/sign-in") view=SignInPage />
                    <Route path=path!("/setup") view=SetupPage />
                    <ParentRoute path=path!("") view=ConsoleLayout>
                        <Route path=path!("") view=DashboardPage />
                        <Route path=path!("/boot-images") view=BootImagesPage />
                        <Route path=path!("/boot-images/add") view=AddBootImagePage />
                        <Route path=path!("/boot-images/:id") view=BootImagePage />
                        <Route path=path!("/os-images") view=OsImagesPage />
                        <Route path=path!("/os-images/add") view=AddOsImagePage />
                        <Route path=path!("/os-images/:id") view=OsImagePage />
                        <Route path=path!("/drivers") view=DriversPage />
                        <Route path=path!("/drivers/:id") view=DriverPage />
                        <Route path=path!("/jobs") view=JobsPage />
                        <Route path=path!("/jobs/schedules") view=SchedulesPage />
                        <Route path=path!("/jobs/:id") view=JobDetailPage />
                        <Route path=path!("/security/users") view=UsersPage />
                        <Route path=path!("/security/roles") view=RolesPage />
                        <Route path=path!("/security/scopes") view=ScopesPage />
                        <Route path=path!("/security/audit") view=AuditPage />
                        <Route path=path!("/account") view=AccountPage />
                    </ParentRoute>
                </Routes>
            </div>
        </Router>
    }
}
