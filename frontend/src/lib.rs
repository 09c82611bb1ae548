//! The browser entry point: hydrates the server-rendered page with [`app::App`].

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the bootstrap script the server puts in every page.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy routes: hydration waits for the chunk of the page it hydrates.
    leptos::mount::hydrate_lazy(app::App);
}
