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
mod routes;

pub use error::AppError;

use leptos::prelude::*;
use leptos_meta::{Title, provide_meta_context};
use leptos_router::{
    Lazy, SsrMode,
    components::{ParentRoute, Route, Router, Routes},
    path,
};

use components::layout::ConsoleLayout;
use pages::not_found::NotFoundPage;
use routes::*;

/// Where the stylesheet is served (`/pkg/wimdeck.<hash>.css`); the server provides it as
/// context, from the names the bundle was built with.
#[cfg(feature = "ssr")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StylesheetHref(pub String);

/// The HTML document around the application; server only. It provides the per-request nonce
/// that lets the hydration script run under the Content-Security-Policy, and sets that policy.
/// The stylesheet is linked here, not by the app, so its hashed name never has to reach the
/// browser's code.
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
    let stylesheet = use_context::<StylesheetHref>()
        .map_or_else(|| "/pkg/wimdeck.css".to_owned(), |href| href.0);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="stylesheet" href=stylesheet />
                <link rel="icon" type="image/svg+xml" href="/pkg/favicon.svg" />
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

/// Every page's `<title>`: its own text, then the console's name. Every `<Title>` of the app
/// goes through this one formatter (no page sets its own). leptos_meta writes the formatted
/// title into the server-rendered head as it is, unescaped, so on the server the text is
/// escaped here (names of images, drivers and users reach titles); in the browser it becomes
/// `document.title`, plain text, and must not be.
fn title_text(page: String) -> String {
    let text = if page.is_empty() {
        "Wimdeck".to_owned()
    } else {
        format!("{page} · Wimdeck")
    };
    #[cfg(feature = "ssr")]
    let text = escape_html_text(&text);
    text
}

/// Text made safe to place between HTML tags (and inside quoted attributes).
#[cfg(feature = "ssr")]
pub fn escape_html_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The application: routes and the document head they share.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Set once the wasm has taken over the page; end-to-end tests wait for it.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    // Every page is rendered whole on the server (`SsrMode::Async`): an object's title (its
    // name) is in the head before any script runs, and a render that stalls has sent nothing
    // yet, so the server can render the page again (`server::render_deadline`).
    view! {
        <Title formatter=title_text />
        <Router>
            <div class="app" data-hydrated=move || hydrated.get().to_string()>
                <Routes fallback=NotFoundPage>
                    <Route path=path!("/sign-in") view={Lazy::<SignInRoute>::new()} ssr=SsrMode::Async />
                    <Route path=path!("/setup") view={Lazy::<SetupRoute>::new()} ssr=SsrMode::Async />
                    <ParentRoute path=path!("") view=ConsoleLayout>
                        <Route path=path!("") view={Lazy::<DashboardRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/boot-images") view={Lazy::<BootImagesRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/boot-images/add") view={Lazy::<AddBootImageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/boot-images/:id") view={Lazy::<BootImageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/os-images") view={Lazy::<OsImagesRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/os-images/add") view={Lazy::<AddOsImageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/os-images/:id") view={Lazy::<OsImageRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/drivers") view={Lazy::<DriversRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/drivers/:id") view={Lazy::<DriverRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/jobs") view={Lazy::<JobsRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/jobs/schedules") view={Lazy::<SchedulesRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/jobs/:id") view={Lazy::<JobDetailRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/distribution-points") view={Lazy::<DistributionPointsRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/distribution-points/:id") view={Lazy::<DistributionPointRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/distribution") view={Lazy::<DistributionStatusRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/security/users") view={Lazy::<UsersRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/security/roles") view={Lazy::<RolesRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/security/scopes") view={Lazy::<ScopesRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/security/audit") view={Lazy::<AuditRoute>::new()} ssr=SsrMode::Async />
                        <Route path=path!("/account") view={Lazy::<AccountRoute>::new()} ssr=SsrMode::Async />
                    </ParentRoute>
                </Routes>
            </div>
        </Router>
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    #[test]
    fn titles_are_escaped_where_the_server_writes_them() {
        assert_eq!(super::title_text(String::new()), "Wimdeck");
        assert_eq!(
            super::title_text("x</title><script>alert(1)</script>".into()),
            "x&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt; · Wimdeck"
        );
        assert_eq!(
            super::title_text("\"a\" & 'b'".into()),
            "&quot;a&quot; &amp; &#39;b&#39; · Wimdeck"
        );
    }
}
