//! The Add wizard: a path (local or share) or an upload, the file read and its images shown, then the
//! choices (index, name, version, comment; for OS images, all indexes or one extracted) and an
//! import job whose page the admin lands on.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

use super::{Kind, kilobytes, upload::Uploader};
use crate::{
    api::images::{ImportImage, PreviewImageSource, SourcePreview},
    components::error::action_error,
    format,
};

#[component]
pub fn AddBootImagePage() -> impl IntoView {
    view! { <AddImage kind=Kind::Boot /> }
}

#[component]
pub fn AddOsImagePage() -> impl IntoView {
    view! { <AddImage kind=Kind::Os /> }
}

#[component]
fn AddImage(kind: Kind) -> impl IntoView {
    let preview = ServerAction::<PreviewImageSource>::new();
    let source = RwSignal::new(String::new());
    let title = format!("Add {}", kind.noun());
    let hint = match kind {
        Kind::Boot => r"\\deploy01\sources\winpe\boot.wim",
        Kind::Os => r"\\deploy01\sources\win11\install.wim",
    };
    view! {
        <Title text=title.clone() />
        <div class="page-head">
            <h1>{title}</h1>
            <a href=kind.base()>"Back to the list"</a>
        </div>
        <section class="panel" aria-label="Source">
            <h2>"1. Source"</h2>
            <ActionForm action=preview attr:class="row">
                <label>"Path of the WIM file"
                    <input name="source" required placeholder=hint size="48"
                        prop:value=move || source.get()
                        on:input=move |ev| source.set(event_target_value(&ev)) />
                </label>
                <button type="submit" class="secondary">"Read the file"</button>
            </ActionForm>
            <p class="muted">"A path on this server under an image source root, or a share path mapped to one."</p>
            {action_error(preview.value())}
        </section>
        <section class="panel" aria-label="Upload">
            <h2>"… or upload it"</h2>
            <Uploader on_uploaded=Callback::new(move |path: String| {
                source.set(path.clone());
                preview.dispatch(PreviewImageSource { source: path });
            }) />
        </section>
        {move || {
            preview
                .value()
                .get()
                .and_then(Result::ok)
                .map(|found| view! { <Choices kind found source=source.get_untracked() /> })
        }}
    }
}

/// Step 2: what the file holds, and the admin's choices.
#[component]
fn Choices(kind: Kind, found: SourcePreview, source: String) -> impl IntoView {
    let import = ServerAction::<ImportImage>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(job)) = import.value().get() {
            navigate(&format!("/jobs/{job}"), Default::default());
        }
    });
    let extract = RwSignal::new(false);
    let file = found.file.clone();
    let default_index = if file.boot_index > 0 {
        file.boot_index
    } else {
        1
    };
    let indexes = found.indexes.clone();
    let options = move |only_bootable: bool| {
        indexes
            .iter()
            .map(|i| {
                let disabled = only_bootable && !i.bootable_supported;
                let mut label = format!("{} — {}", i.index, i.name);
                if !i.windows_pe.is_empty() {
                    label.push_str(&format!(" ({})", i.windows_pe));
                }
                view! {
                    <option value=i.index selected=i.index == default_index disabled=disabled>{label}</option>
                }
            })
            .collect_view()
    };
    let index_field = match kind {
        Kind::Boot => view! {
            <label>"Image index" <select name="index">{options(true)}</select></label>
        }
        .into_any(),
        Kind::Os => {
            let options = options.clone();
            view! {
                <fieldset>
                    <legend>"Images to import"</legend>
                    <label><input type="radio" name="mode" value="all" checked on:change=move |_| extract.set(false) />
                        {if file.total_parts > 1 {
                            format!("All {} images, its {} parts joined into one WIM next to the source (the parts are not changed)", file.image_count, file.total_parts)
                        } else {
                            format!("All {} images of the file, in place", file.image_count)
                        }}</label>
                    <label><input type="radio" name="mode" value="extract" on:change=move |_| extract.set(true) />
                        "Extract one image into a new WIM next to the source (the source is not changed)"</label>
                    <Show when=move || extract.get()>
                        <label>"Image index" <select name="index">{options(false)}</select></label>
                    </Show>
                </fieldset>
            }
            .into_any()
        }
    };
    let os_fields = (kind == Kind::Os).then(|| {
        view! {
            <label>"Architecture (leave as read)"
                <select name="architecture">
                    <option value="">"As in the image"</option>
                    <option value="x86">"x86"</option>
                    <option value="amd64">"x64 (amd64)"</option>
                    <option value="arm64">"arm64"</option>
                </select>
            </label>
            <label>"Language" <input name="language" placeholder="As in the image, e.g. en-US" /></label>
        }
    });
    view! {
        <section class="panel" aria-label="File">
            <h2>"2. What the file holds"</h2>
            <dl class="facts">
                <dt>"File"</dt><dd>{found.resolved_path.clone()}</dd>
                <dt>"Size"</dt><dd>{format::bytes(found.file.size_bytes)}</dd>
                <dt>"Compression"</dt><dd>{found.file.compression.clone()}</dd>
                <dt>"Images"</dt><dd>{found.file.image_count}</dd>
                {(found.file.total_parts > 1).then(|| view! {
                    <dt>"Split WIM"</dt><dd>{format!("{} parts, all present", found.file.total_parts)}</dd>
                })}
                <dt>"Boot index"</dt><dd>{if found.file.boot_index == 0 { "none".to_owned() } else { found.file.boot_index.to_string() }}</dd>
                <dt>"Integrity table"</dt><dd>{if found.file.has_integrity_table { "yes" } else { "no" }}</dd>
            </dl>
            <div class="table-scroll">
                <table class="list" aria-label="Images in the file">
                    <thead><tr><th>"Index"</th><th>"Name"</th><th>"Edition"</th><th>"Architecture"</th><th>"Version"</th><th>"Languages"</th><th>"Windows PE"</th><th>"Size (KB)"</th></tr></thead>
                    <tbody>
                        {found.indexes.iter().map(|i| view! {
                            <tr>
                                <td data-label="Index">{i.index}</td>
                                <td data-label="Name">{i.name.clone()}</td>
                                <td data-label="Edition">{i.edition.clone()}</td>
                                <td data-label="Architecture">{i.architecture.clone()}</td>
                                <td data-label="Version">{i.version.clone()}</td>
                                <td data-label="Languages">{i.languages.clone()}</td>
                                <td data-label="Windows PE">{if i.windows_pe.is_empty() { "—".to_owned() } else { i.windows_pe.clone() }}</td>
                                <td data-label="Size (KB)">{kilobytes(i.total_bytes)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        <section class="panel" aria-label="Choices">
            <h2>"3. Import"</h2>
            <ActionForm action=import attr:class="grid">
                <input type="hidden" name="kind" value=kind.wire() />
                <input type="hidden" name="source" value=source />
                {index_field}
                <label>"Name" <input name="name" maxlength="128" placeholder="Default: the image's name in the WIM" /></label>
                <label>"Version" <input name="version" maxlength="64" /></label>
                <label>"Comment" <input name="comment" maxlength="2000" /></label>
                {os_fields}
                <button type="submit">{format!("Add {}", kind.noun())}</button>
            </ActionForm>
            {action_error(import.value())}
        </section>
    }
}
