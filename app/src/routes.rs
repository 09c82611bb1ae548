//! The console's pages as lazily loaded routes, one chunk of the browser bundle per console
//! area. The release build splits the wasm at each `#[lazy]` function below (see
//! `bundler/`), so a first visit fetches the shell and its own area only, and the other areas
//! arrive when a page of theirs is opened. Areas, not pages, are the unit: pages of one area
//! share most of their code, and one split point per page made hundreds of chunks that a page
//! had to fetch one by one (`docs/benchmarks.md`, "Console page weight").
//!
//! Each route preloads its area before it renders, so hydration waits for the chunk instead of
//! rendering the server's HTML a second time beside it.

use leptos::prelude::*;
use leptos_router::LazyRoute;

use crate::pages::{
    dashboard::DashboardPage,
    drivers::{DriverPage, DriversPage},
    images::{
        AddBootImagePage, AddOsImagePage, BootImagePage, BootImagesPage, OsImagePage, OsImagesPage,
    },
    jobs::{JobDetailPage, JobsPage, SchedulesPage},
    security::{AccountPage, AuditPage, RolesPage, ScopesPage, UsersPage},
    setup::SetupPage,
    sign_in::SignInPage,
};

/// The pages shown before anyone is signed in.
#[derive(Debug, Clone, Copy)]
pub enum EntryArea {
    SignIn,
    Setup,
}

#[leptos::lazy]
fn entry_area(page: EntryArea) -> AnyView {
    match page {
        EntryArea::SignIn => view! { <SignInPage /> }.into_any(),
        EntryArea::Setup => view! { <SetupPage /> }.into_any(),
    }
}

#[derive(Debug, Clone, Copy)]
pub enum DashboardArea {
    Dashboard,
}

#[leptos::lazy]
fn dashboard_area(page: DashboardArea) -> AnyView {
    match page {
        DashboardArea::Dashboard => view! { <DashboardPage /> }.into_any(),
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

#[leptos::lazy]
fn images_area(page: ImagesArea) -> AnyView {
    match page {
        ImagesArea::BootImages => view! { <BootImagesPage /> }.into_any(),
        ImagesArea::AddBootImage => view! { <AddBootImagePage /> }.into_any(),
        ImagesArea::BootImage => view! { <BootImagePage /> }.into_any(),
        ImagesArea::OsImages => view! { <OsImagesPage /> }.into_any(),
        ImagesArea::AddOsImage => view! { <AddOsImagePage /> }.into_any(),
        ImagesArea::OsImage => view! { <OsImagePage /> }.into_any(),
    }
}

#[derive(Debug, Clone, Copy)]
pub enum DriversArea {
    Drivers,
    Driver,
}

#[leptos::lazy]
fn drivers_area(page: DriversArea) -> AnyView {
    match page {
        DriversArea::Drivers => view! { <DriversPage /> }.into_any(),
        DriversArea::Driver => view! { <DriverPage /> }.into_any(),
    }
}

#[derive(Debug, Clone, Copy)]
pub enum JobsArea {
    Jobs,
    Schedules,
    JobDetail,
}

#[leptos::lazy]
fn jobs_area(page: JobsArea) -> AnyView {
    match page {
        JobsArea::Jobs => view! { <JobsPage /> }.into_any(),
        JobsArea::Schedules => view! { <SchedulesPage /> }.into_any(),
        JobsArea::JobDetail => view! { <JobDetailPage /> }.into_any(),
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

#[leptos::lazy]
fn security_area(page: SecurityArea) -> AnyView {
    match page {
        SecurityArea::Users => view! { <UsersPage /> }.into_any(),
        SecurityArea::Roles => view! { <RolesPage /> }.into_any(),
        SecurityArea::Scopes => view! { <ScopesPage /> }.into_any(),
        SecurityArea::Audit => view! { <AuditPage /> }.into_any(),
        SecurityArea::Account => view! { <AccountPage /> }.into_any(),
    }
}

/// One route type per page: `Lazy::<Route>::new()` in the router awaits the page's area.
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
    BootImagesRoute => images_area / __preload_images_area (ImagesArea::BootImages);
    AddBootImageRoute => images_area / __preload_images_area (ImagesArea::AddBootImage);
    BootImageRoute => images_area / __preload_images_area (ImagesArea::BootImage);
    OsImagesRoute => images_area / __preload_images_area (ImagesArea::OsImages);
    AddOsImageRoute => images_area / __preload_images_area (ImagesArea::AddOsImage);
    OsImageRoute => images_area / __preload_images_area (ImagesArea::OsImage);
    DriversRoute => drivers_area / __preload_drivers_area (DriversArea::Drivers);
    DriverRoute => drivers_area / __preload_drivers_area (DriversArea::Driver);
    JobsRoute => jobs_area / __preload_jobs_area (JobsArea::Jobs);
    SchedulesRoute => jobs_area / __preload_jobs_area (JobsArea::Schedules);
    JobDetailRoute => jobs_area / __preload_jobs_area (JobsArea::JobDetail);
    UsersRoute => security_area / __preload_security_area (SecurityArea::Users);
    RolesRoute => security_area / __preload_security_area (SecurityArea::Roles);
    ScopesRoute => security_area / __preload_security_area (SecurityArea::Scopes);
    AuditRoute => security_area / __preload_security_area (SecurityArea::Audit);
    AccountRoute => security_area / __preload_security_area (SecurityArea::Account);
}
