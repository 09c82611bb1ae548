//! Prestaged content files in the Distribution panel: make one of the content's newest
//! version, download it to carry to a DP, delete it.

use leptos::prelude::*;

use crate::{
    api::distribution::prestaged::{CreatePrestagedFile, DeletePrestagedFile, PrestagedFileView},
    components::error::action_error,
    format,
};

/// The content's prestaged content files (listed with the panel's view, which `reload`
/// fetches again; `watch_until` keeps it refreshing while a file is being written, and
/// `queued` names the job, as the panel does for Distribute).
#[component]
pub fn PrestagedFiles(
    object_type: String,
    id: i64,
    files: Vec<PrestagedFileView>,
    reload: RwSignal<u32>,
    watch_until: RwSignal<f64>,
    queued: RwSignal<Option<i64>>,
) -> impl IntoView {
    let create = ServerAction::<CreatePrestagedFile>::new();
    let delete = ServerAction::<DeletePrestagedFile>::new();
    Effect::new(move |_| {
        if let Some(Ok(job)) = create.value().get() {
            queued.set(Some(job));
            watch_until.set(super::js_now() + 60_000.0);
        }
        if matches!(delete.value().get(), Some(Ok(()))) {
            reload.update(|n| *n += 1);
        }
    });
    let list = if files.is_empty() {
        view! { <p class="muted">"No prestaged content file holds this content."</p> }.into_any()
    } else {
        view! {
            <div class="table-scroll">
                <table class="list" aria-label="Prestaged content files">
                    <thead><tr><th>"File"</th><th>"Holds"</th><th>"Size"</th><th>"Created"</th><th></th></tr></thead>
                    <tbody>
                        {files.into_iter().map(|file| view! { <FileRow file delete /> }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any()
    };
    view! {
        <details id="prestaged">
            <summary>"Prestaged content files"</summary>
            <p class="muted">
                "For distribution points enabled for prestaged content: copy the file to the DP and run "
                <code>"wimdeck dp import-prestaged FILE --data-dir DIR"</code>
                " there. The DP then installs the version without fetching it."
            </p>
            <ActionForm action=create attr:class="inline">
                <input type="hidden" name="object_type" value=object_type />
                <input type="hidden" name="object_id" value=id />
                <button type="submit" class="secondary">"Create prestaged content file"</button>
            </ActionForm>
            {action_error(create.value())}
            {action_error(delete.value())}
            {list}
        </details>
    }
}

#[component]
fn FileRow(file: PrestagedFileView, delete: ServerAction<DeletePrestagedFile>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let holds = file
        .versions
        .iter()
        .map(|(name, number)| format!("{name} (version {number})"))
        .collect::<Vec<_>>()
        .join(", ");
    let name = StoredValue::new(file.name.clone());
    let created = format!("{} by {}", format::utc(file.created_at_ms), file.created_by);
    view! {
        <tr>
            <td data-label="File"><a href=file.download.clone() download=file.name.clone()>{file.name.clone()}</a></td>
            <td data-label="Holds">{holds}</td>
            <td data-label="Size">{format::bytes(file.bytes)}</td>
            <td class="when" data-label="Created">{created}</td>
            <td class="actions">
                {move || if confirming.get() {
                    view! {
                        <ActionForm action=delete attr:class="inline">
                            <input type="hidden" name="name" value=name.get_value() />
                            <button type="submit" class="danger">"Confirm delete"</button>
                        </ActionForm>
                    }.into_any()
                } else {
                    view! { <button type="button" class="secondary" on:click=move |_| confirming.set(true)>"Delete"</button> }.into_any()
                }}
            </td>
        </tr>
    }
}
