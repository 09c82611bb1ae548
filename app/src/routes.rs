//! The console's pages as lazily loaded routes, in three chunks of the browser bundle: the
//! pages shown before sign-in, the dashboard, and the rest of the console. The release build
//! splits the wasm at each `#[lazy]` function below (see `bundler/`), so a first visit fetches
//! the shell and its own chunk only. Three, not one per page or per area: the splitter also
//! makes a shared chunk for every set of split points that share code, and each module a page
//! loads costs the throttled main thread a task while the page is parsed; six areas made 35
//! chunks and pages near 1 s to interactive, three make six (`docs/benchmarks.md`, "Console
//! page weight").
//!
//! Each route preloads its chunk before it renders, so hydration waits for it instead of
//! rendering the server's HTML a second time beside it.

use leptos::prelude::*;
use leptos_router::LazyRoute;

use crate::pages::{
    dashboard::DashboardPage,
    distribution::{DistributionPointPage, DistributionPointsPage, DistributionStatusPage},
    drivers::{DriverPage, DriversPage},
    images::{
        AddBootImagePage, AddOsImagePage, BootImagePage, BootImagesPage, OsImagePage, OsImagesPage,
    },
    jobs::{JobDetailPage, JobsPage, SchedulesPage},
    security::{AccountPage, AuditPage, RolesPage, ScopesPage, UsersPage},
    setup::SetupPage,
    sign_in::SignInPage,
};

/// One page's view, in a wasm function of its own. The browser compiles a wasm function when it
/// is first called, so with every page inlined into its area's function (88 KB of code for the
/// console area) the first page of an area compiled all of them, ~50 ms of a throttled phone's
/// main thread before hydration (`docs/benchmarks.md`, "one function per page"). Kept apart
/// from LLVM's inlining here, and from `wasm-opt`'s inlining of functions with one caller by
/// the bundle's build (`scripts/common.sh`, `shrink_site`), which names this function.
#[inline(never)]
fn page_view<V: IntoView + 'static>(page: impl FnOnce() -> V) -> AnyView {
    page().into_any()
}

/// The pages shown before anyone is signed in.
#[derive(Debug, Clone, Copy)]
pub enum EntryArea {
    SignIn,
    Setup,
}

#[leptos::lazy]
fn entry_area(page: EntryArea) -> AnyView {
    match page {
        EntryArea::SignIn => page_view(|| view! { <SignInPage /> }),
        EntryArea::Setup => page_view(|| view! { <SetupPage /> }),
    }
}

#[derive(Debug, Clone, Copy)]
pub enum DashboardArea {
    Dashboard,
}

#[leptos::lazy]
fn dashboard_area(page: DashboardArea) -> AnyView {
    match page {
        DashboardArea::Dashboard => page_view(|| view! { <DashboardPage /> }),
    }
}

#[derive(Debug, Clone, Copy)]
pub enum ImagesArea {
    BootImages,
    AddBootImage,
    BootImage,
    OsImages,
    AddOsImage,
    OsImage,
}

fn images_page(page: ImagesArea) -> AnyView {
    match page {
        ImagesArea::BootImages => page_view(|| view! { <BootImagesPage /> }),
        ImagesArea::AddBootImage => page_view(|| view! { <AddBootImagePage /> }),
        ImagesArea::BootImage => page_view(|| view! { <BootImagePage /> }),
        ImagesArea::OsImages => page_view(|| view! { <OsImagesPage /> }),
        ImagesArea::AddOsImage => page_view(|| view! { <AddOsImagePage /> }),
        ImagesArea::OsImage => page_view(|| view! { <OsImagePage /> }),
    }
}

#[derive(Debug, Clone, Copy)]
pub enum DriversArea {
    Drivers,
    Driver,
}

fn drivers_page(page: DriversArea) -> AnyView {
    match page {
        DriversArea::Drivers => page_view(|| view! { <DriversPage /> }),
        DriversArea::Driver => page_view(|| view! { <DriverPage /> }),
    }
}

#[derive(Debug, Clone, Copy)]
pub enum JobsArea {
    Jobs,
    Schedules,
    JobDetail,
}

fn jobs_page(page: JobsArea) -> AnyView {
    match page {
        JobsArea::Jobs => page_view(|| view! { <JobsPage /> }),
        JobsArea::Schedules => page_view(|| view! { <SchedulesPage /> }),
        JobsArea::JobDetail => page_view(|| view! { <JobDetailPage /> }),
    }
}

#[derive(Debug, Clone, Copy)]
pub enum DistributionArea {
    Points,
    Point,
    Status,
}

fn distribution_page(page: DistributionArea) -> AnyView {
    match page {
        DistributionArea::Points => page_view(|| view! { <DistributionPointsPage /> }),
        DistributionArea::Point => page_view(|| view! { <DistributionPointPage /> }),
        DistributionArea::Status => page_view(|| view! { <DistributionStatusPage /> }),
    }
}

/// Security, and the signed-in user's own account page (it shares the forms).
#[derive(Debug, Clone, Copy)]
pub enum SecurityArea {
    Users,
    Roles,
    Scopes,
    Audit,
    Account,
}

fn security_page(page: SecurityArea) -> AnyView {
    match page {
        SecurityArea::Users => page_view(|| view! { <UsersPage /> }),
        SecurityArea::Roles => page_view(|| view! { <RolesPage /> }),
        SecurityArea::Scopes => page_view(|| view! { <ScopesPage /> }),
        SecurityArea::Audit => page_view(|| view! { <AuditPage /> }),
        SecurityArea::Account => page_view(|| view! { <AccountPage /> }),
    }
}

/// Everything behind sign-in but the dashboard: images, drivers, jobs, distribution and
/// security.
#[derive(Debug, Clone, Copy)]
pub enum ConsoleArea {
    Images(ImagesArea),
    Drivers(DriversArea),
    Jobs(JobsArea),
    Distribution(DistributionArea),
    Security(SecurityArea),
}

#[leptos::lazy]
fn console_area(page: ConsoleArea) -> AnyView {
    match page {
        ConsoleArea::Images(p) => images_page(p),
        ConsoleArea::Drivers(p) => drivers_page(p),
        ConsoleArea::Jobs(p) => jobs_page(p),
        ConsoleArea::Distribution(p) => distribution_page(p),
        ConsoleArea::Security(p) => security_page(p),
    }
}

/// One route type per page: `Lazy::<Route>::new()` in the router awaits the page's chunk.
macro_rules! lazy_routes {
    ($($route:ident => $area:ident / $preload:ident ($page:expr);)*) => {$(
        pub struct $route;

        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            async fn view(_this: Self) -> AnyView {
                $area($page).await
            }

            async fn preload() {
                // The chunk loader exists in the browser build only; on the server the area
                // is linked in and there is nothing to load.
                #[cfg(target_arch = "wasm32")]
                $preload().await;
            }
        }
    )*};
}

lazy_routes! {
    SignInRoute => entry_area / __preload_entry_area (EntryArea::SignIn);
    SetupRoute => entry_area / __preload_entry_area (EntryArea::Setup);
    DashboardRoute => dashboard_area / __preload_dashboard_area (DashboardArea::Dashboard);
    BootImagesRoute => console_area / __preload_console_area (ConsoleArea::Images(ImagesArea::BootImages));
    AddBootImageRoute => console_area / __preload_console_area (ConsoleArea::Images(ImagesArea::AddBootImage));
    BootImageRoute => console_area / __preload_console_area (ConsoleArea::Images(ImagesArea::BootImage));
    OsImagesRoute => console_area / __preload_console_area (ConsoleArea::Images(ImagesArea::OsImages));
    AddOsImageRoute => console_area / __preload_console_area (ConsoleArea::Images(ImagesArea::AddOsImage));
    OsImageRoute => console_area / __preload_console_area (ConsoleArea::Images(ImagesArea::OsImage));
    DriversRoute => console_area / __preload_console_area (ConsoleArea::Drivers(DriversArea::Drivers));
    DriverRoute => console_area / __preload_console_area (ConsoleArea::Drivers(DriversArea::Driver));
    JobsRoute => console_area / __preload_console_area (ConsoleArea::Jobs(JobsArea::Jobs));
    SchedulesRoute => console_area / __preload_console_area (ConsoleArea::Jobs(JobsArea::Schedules));
    JobDetailRoute => console_area / __preload_console_area (ConsoleArea::Jobs(JobsArea::JobDetail));
    DistributionPointsRoute => console_area / __preload_console_area (ConsoleArea::Distribution(DistributionArea::Points));
    DistributionPointRoute => console_area / __preload_console_area (ConsoleArea::Distribution(DistributionArea::Point));
    DistributionStatusRoute => console_area / __preload_console_area (ConsoleArea::Distribution(DistributionArea::Status));
    UsersRoute => console_area / __preload_console_area (ConsoleArea::Security(SecurityArea::Users));
    RolesRoute => console_area / __preload_console_area (ConsoleArea::Security(SecurityArea::Roles));
    ScopesRoute => console_area / __preload_console_area (ConsoleArea::Security(SecurityArea::Scopes));
    AuditRoute => console_area / __preload_console_area (ConsoleArea::Security(SecurityArea::Audit));
    AccountRoute => console_area / __preload_console_area (ConsoleArea::Security(SecurityArea::Account));
}
