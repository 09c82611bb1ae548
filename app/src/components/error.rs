use leptos::prelude::*;

use crate::AppError;

/// An error message, announced to screen readers.
#[component]
pub fn ErrorBanner(error: AppError) -> impl IntoView {
    view! {
        <p class="error" role="alert">
            {error.to_string()}
        </p>
    }
}

/// The banner for the latest result of an action, if it failed.
pub fn action_error<T, S>(value: S) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    S: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    move || match value.get() {
        Some(Err(error)) => Some(view! { <ErrorBanner error /> }),
        _ => None,
    }
}
