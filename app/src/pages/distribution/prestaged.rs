//! Prestaged content files: in the Distribution panel, a file of the content's newest
//! version; on the Distribution status page, a file of chosen contents; both list the files
//! to download (to carry to a DP) or delete.

use leptos::prelude::*;

use crate::{
    api::distribution::prestaged::{
        CreatePrestagedFile, DeletePrestagedFile, PrestagedFileView, PrestagedView, prestaged_files,
    },
    components::error::{ErrorBanner, action_error},
    format,
};

/// How to use a file, as both places say it.
const HOW_TO: &str =
    "For distribution points enabled for prestaged content: copy the file to the DP and run";

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
        view! { <FilesTable files delete /> }.into_any()
    };
    view! {
        <details id="prestaged">
            <summary>"Prestaged content files"</summary>
            <p class="muted">
                {HOW_TO}" "<code>"wimdeck dp import-prestaged FILE --data-dir DIR"</code>
                " there. The DP then installs the version without fetching it."
            </p>
            <ActionForm action=create attr:class="inline">
                <input type="hidden" name="contents" value=format!("{object_type}:{id}") />
                <button type="submit" class="secondary">"Create prestaged content file"</button>
            </ActionForm>
            {action_error(create.value())}
            {action_error(delete.value())}
            {list}
        </details>
    }
}

/// The Prestaged content section of the Distribution status page: one file of the chosen
/// contents, and every file the user may download; nothing for a user who may distribute no
/// content. It reads its view when shown, after a delete, and every 2 s for a minute after a
/// file was asked for; its choices and actions outlive those reads.
#[component]
pub fn PrestagedSection() -> impl IntoView {
    let reload = RwSignal::new(0u32);
    let view = Resource::new(move || reload.get(), |_| prestaged_files());
    let create = ServerAction::<CreatePrestagedFile>::new();
    let delete = ServerAction::<DeletePrestagedFile>::new();
    let chosen = RwSignal::new(Vec::<String>::new());
    let queued = RwSignal::new(None::<i64>);
    let watch_until = RwSignal::new(0.0_f64);
    Effect::new(move |_| {
        if let Some(Ok(job)) = create.value().get() {
            queued.set(Some(job));
            chosen.set(Vec::new());
            watch_until.set(super::js_now() + 60_000.0);
        }
        if matches!(delete.value().get(), Some(Ok(()))) {
            reload.update(|n| *n += 1);
        }
    });
    crate::pages::jobs::widgets::every(super::REFRESH, move || {
        if super::js_now() < watch_until.get_untracked() {
            reload.update(|n| *n += 1);
        }
    });
    let actions = Actions {
        create,
        delete,
        chosen,
        queued,
    };
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match view.await {
                    Ok(Some(view)) => view! { <PrestagedBody view actions /> }.into_any(),
                    Ok(None) => ().into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// What the section keeps across reads of its view.
#[derive(Clone, Copy)]
struct Actions {
    create: ServerAction<CreatePrestagedFile>,
    delete: ServerAction<DeletePrestagedFile>,
    /// The contents ticked (their keys).
    chosen: RwSignal<Vec<String>>,
    queued: RwSignal<Option<i64>>,
}

#[component]
fn PrestagedBody(view: PrestagedView, actions: Actions) -> impl IntoView {
    let Actions {
        create,
        delete,
        chosen,
        queued,
    } = actions;
    let legend = format!(
        "Contents to put in the file (the newest version of each; at most {})",
        view.max_contents
    );
    let choices = if view.choices.is_empty() {
        view! { <p class="muted">"No content you may distribute is in the library yet: distribute it once first."</p> }.into_any()
    } else {
        view! {
            <ActionForm action=create attr:class="grid" attr:aria-label="New prestaged content file">
                <input type="hidden" name="contents" prop:value=move || chosen.get().join(",") />
                <fieldset>
                    <legend>{legend}</legend>
                    {view.choices.into_iter().map(|c| {
                        let key = StoredValue::new(c.key.clone());
                        let version = c.version.map(|v| format!(" (version {v})")).unwrap_or_default();
                        view! {
                            <label class="check">
                                <input type="checkbox"
                                    prop:checked=move || chosen.with(|c| key.with_value(|k| c.contains(k)))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        chosen.update(|c| { c.retain(|k| *k != key.get_value()); if on { c.push(key.get_value()); } });
                                    } />
                                {format!("{}: {}", c.kind, c.name)}<span class="muted">{version}</span>
                            </label>
                        }
                    }).collect_view()}
                </fieldset>
                <button type="submit" class="secondary">"Create prestaged content file"</button>
            </ActionForm>
        }
        .into_any()
    };
    let files = if view.files.is_empty() {
        view! { <p class="muted">"No prestaged content file yet."</p> }.into_any()
    } else {
        view! { <FilesTable files=view.files delete /> }.into_any()
    };
    view! {
        <section class="panel" aria-label="Prestaged content">
            <h2>"Prestaged content"</h2>
            <p class="muted">
                {HOW_TO}" "<code>"wimdeck dp import-prestaged FILE --data-dir DIR"</code>
                " there. The DP then installs what the file holds without fetching it."
            </p>
            {choices}
            {move || queued.get().map(|job| view! {
                <p class="muted" role="status">"Queued: "<a href=format!("/jobs/{job}")>{format!("job {job}")}</a>". The file is listed below once written."</p>
            })}
            {action_error(create.value())}
            {action_error(delete.value())}
            {files}
        </section>
    }
}

#[component]
fn FilesTable(
    files: Vec<PrestagedFileView>,
    delete: ServerAction<DeletePrestagedFile>,
) -> impl IntoView {
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
    let (created, by) = (
        format::utc(file.created_at_ms),
        format!(" by {}", file.created_by),
    );
    view! {
        <tr>
            <td data-label="File"><a href=file.download.clone() download=file.name.clone()>{file.name.clone()}</a></td>
            <td data-label="Holds">{holds}</td>
            <td data-label="Size">{format::bytes(file.bytes)}</td>
            <td data-label="Created"><span class="when">{created}</span>{by}</td>
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
