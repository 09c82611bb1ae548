//! An image's properties: general fields (edited with optimistic locking), the file, each
//! index's metadata, servicing actions, deletion, and the file browser.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use super::{
    Kind, browser::FileBrowser, drivers_tab::DriversTab, kilobytes, marks, recipe, state_label,
};
use crate::{
    api::{
        boot::{boot_image_recipe, boot_images_for_os_image},
        images::{DeleteImage, EditImage, ImageDetailView, ServiceImage, image_detail},
    },
    components::error::{ErrorBanner, action_error},
    format,
    pages::{distribution::DistributionPanel, security::SecurityPanel},
};

/// A boot image's tabs, as its properties dialog has them: (query value, label).
const BOOT_TABS: [(&str, &str); 9] = [
    ("general", "General"),
    ("customization", "Customization"),
    ("drivers", "Drivers"),
    ("images", "Images"),
    ("components", "Optional components"),
    ("source", "Data source"),
    ("revisions", "Revisions"),
    ("distribution", "Content locations"),
    ("security", "Security"),
];

#[component]
pub fn BootImagePage() -> impl IntoView {
    view! { <ImagePage kind=Kind::Boot /> }
}

#[component]
pub fn OsImagePage() -> impl IntoView {
    view! { <ImagePage kind=Kind::Os /> }
}

#[component]
fn ImagePage(kind: Kind) -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let reload = RwSignal::new(0u32);
    // Lives above the reloaded properties, so "Saved." survives the reload a save causes.
    let saved = RwSignal::new(false);
    let detail = Resource::new(
        move || (id(), reload.get()),
        move |(id, _)| image_detail(kind.wire().to_owned(), id),
    );
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(view) => view! { <Properties kind view reload saved /> }.into_any(),
                    Err(error) => view! { <Title text="Image" /><ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Properties(
    kind: Kind,
    view: ImageDetailView,
    reload: RwSignal<u32>,
    saved: RwSignal<bool>,
) -> impl IntoView {
    let id = view.row.id;
    let indexes: Vec<(u32, String)> = view
        .indexes
        .iter()
        .map(|i| (i.index, i.name.clone()))
        .collect();
    let jobs_link = format!(
        "/jobs?target={}:{id}",
        match kind {
            Kind::Boot => "boot-image",
            Kind::Os => "os-image",
        }
    );
    let source = match view.source_index {
        Some(i) => format!("{} (index {i})", view.source_path),
        None => view.source_path.clone(),
    };
    let state_detail = view
        .state_detail
        .clone()
        .map(|d| view! { <p class="error" role="status">{d}</p> });
    let winpe = (kind == Kind::Boot)
        .then(|| format!("{} — {}", view.row.winpe_release, view.winpe_support));
    let f = view.file.clone();
    let head = view! {
        <Title text=view.row.name.clone() />
        <div class="page-head">
            <h1>{view.row.name.clone()}</h1>
            <span class=format!("badge image-{}", view.row.state)>{state_label(&view.row.state)}</span>
            {marks(&view.row.marks)}
            <a href=kind.base()>{format!("All {}s", kind.noun())}</a>
        </div>
        {state_detail}
    };
    let general = {
        let view = view.clone();
        move || {
            let f = f.clone();
            view! {
                {view.may.modify.then(|| view! { <EditForm kind view=view.clone() reload saved /> })}
                {(!view.may.modify).then(|| view! {
                    <section class="panel" aria-label="General">
                        <h2>"General"</h2>
                        <dl class="facts">
                            <dt>"Version"</dt><dd>{view.row.version.clone()}</dd>
                            <dt>"Comment"</dt><dd>{view.comment.clone()}</dd>
                        </dl>
                    </section>
                })}
                <section class="panel" aria-label="Properties">
                    <h2>"Properties"</h2>
                    <dl class="facts">
                        <dt>"Image path"</dt><dd>{source.clone()}</dd>
                        <dt>"File in use"</dt><dd>{f.path.clone()}</dd>
                        <dt>"Owned by Wimdeck"</dt><dd>{if view.owned { "yes (deleted with the image)" } else { "no (the file is left alone)" }}</dd>
                        <dt>"Architecture"</dt><dd>{view.row.architecture.clone()}</dd>
                        <dt>"OS version"</dt><dd>{view.row.os_version.clone()}</dd>
                        {winpe.clone().map(|w| view! { <dt>"Windows PE"</dt><dd>{w}</dd> })}
                        <dt>"Language"</dt><dd>{view.language.clone()}</dd>
                        <dt>"Size"</dt><dd>{kilobytes(view.row.decompressed_bytes)}</dd>
                        <dt>"File size"</dt><dd>{format::bytes(f.size_bytes)}</dd>
                        <dt>"SHA-256"</dt><dd class="hash">{f.sha256.clone()}</dd>
                        <dt>"GUID"</dt><dd>{f.guid.clone()}</dd>
                        <dt>"Compression"</dt><dd>{format!("{}, {} byte chunks", f.compression, f.chunk_size)}</dd>
                        <dt>"WIM version"</dt><dd>{f.wim_version}</dd>
                        <dt>"Part"</dt><dd>{format!("{} of {}", f.part_number, f.total_parts)}</dd>
                        <dt>"Boot index"</dt><dd>{if f.boot_index == 0 { "none".to_owned() } else { f.boot_index.to_string() }}</dd>
                        <dt>"Integrity table"</dt><dd>{if f.has_integrity_table { "yes" } else { "no" }}</dd>
                        <dt>"Last verified"</dt><dd>{view.verified_at_ms.map(format::utc).unwrap_or_else(|| "never".into())}</dd>
                        <dt>"Content revision"</dt><dd>{view.content_revision}</dd>
                        <dt>"Added"</dt><dd>{format!("{} by {}", format::utc(view.created_at_ms), view.created_by)}</dd>
                        <dt>"Jobs"</dt><dd><a href=jobs_link.clone()>"Jobs on this image"</a></dd>
                    </dl>
                </section>
                {view.may.any_action().then(|| view! { <Actions kind view=view.clone() /> })}
            }
        }
    };
    let images = {
        let indexes = indexes.clone();
        let view = view.clone();
        move || {
            let indexes = indexes.clone();
            view! {
                <section class="panel" aria-label="Images in the file">
                    <h2>"Images in the file"</h2>
                    {view.indexes.iter().map(|i| view! {
                        <details class="index" open=view.indexes.len() == 1>
                            <summary>{format!("{} — {}", i.index, i.name)}</summary>
                            <dl class="facts">
                                <dt>"Description"</dt><dd>{i.description.clone()}</dd>
                                <dt>"Display name"</dt><dd>{i.display_name.clone()}</dd>
                                <dt>"Edition"</dt><dd>{i.edition.clone()}</dd>
                                <dt>"Architecture"</dt><dd>{i.architecture.clone()}</dd>
                                <dt>"Version"</dt><dd>{i.version.clone()}</dd>
                                <dt>"Languages"</dt><dd>{i.languages.clone()}</dd>
                                <dt>"Default language"</dt><dd>{i.default_language.clone()}</dd>
                                <dt>"Installation type"</dt><dd>{i.installation_type.clone()}</dd>
                                <dt>"Product name"</dt><dd>{i.product_name.clone()}</dd>
                                <dt>"Windows PE"</dt><dd>{if i.windows_pe.is_empty() { "—".to_owned() } else { i.windows_pe.clone() }}</dd>
                                <dt>"Directories"</dt><dd>{i.directory_count}</dd>
                                <dt>"Files"</dt><dd>{i.file_count}</dd>
                                <dt>"Size"</dt><dd>{kilobytes(i.total_bytes)}</dd>
                            </dl>
                        </details>
                    }).collect_view()}
                </section>
                <FileBrowser kind id indexes />
            }
        }
    };
    match kind {
        Kind::Os => view! {
            {head}
            {general()}
            {images()}
            <MatchingBootImages id />
            <DistributionPanel object_type="os-image" id />
            <SecurityPanel object_type=kind.object_type() id />
        }
        .into_any(),
        Kind::Boot => {
            let query = use_query_map();
            let tab = move || {
                query
                    .read()
                    .get("tab")
                    .filter(|t| BOOT_TABS.iter().any(|(v, _)| v == t))
                    .unwrap_or_else(|| "general".to_owned())
            };
            view! {
                {head}
                <nav class="tabs" aria-label="Boot image tabs">
                    {BOOT_TABS.map(|(value, label)| {
                        let href = format!("/boot-images/{id}?tab={value}");
                        view! {
                            <a href=href aria-current=move || (tab() == value).then_some("page")>{label}</a>
                        }
                    }).collect_view()}
                </nav>
                {move || match tab().as_str() {
                    "general" => general().into_any(),
                    "images" => view! { {images()}<RecipeTab id tab="images" reload /> }.into_any(),
                    "drivers" => view! { <RecipeTab id tab="pending" reload /><DriversTab image_id=id /> }.into_any(),
                    "security" => view! { <SecurityPanel object_type=kind.object_type() id /> }.into_any(),
                    "distribution" => view! { <DistributionPanel object_type="boot-image" id /> }.into_any(),
                    other => view! { <RecipeTab id tab=other.to_owned() reload /> }.into_any(),
                }}
            }
            .into_any()
        }
    }
}

/// A tab drawn from the boot image's recipe (loaded once per visit of the tab).
#[component]
fn RecipeTab(id: i64, #[prop(into)] tab: String, reload: RwSignal<u32>) -> impl IntoView {
    let recipe = Resource::new(move || reload.get(), move |_| boot_image_recipe(id));
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let tab = tab.clone();
                Suspend::new(async move {
                    match recipe.await {
                        Ok(view) => match tab.as_str() {
                            "pending" => view! { <recipe::Pending view /> }.into_any(),
                            "customization" => view! { <recipe::Pending view=view.clone() /><recipe::CustomizationTab view reload /> }.into_any(),
                            "components" => view! { <recipe::ComponentsTab view /> }.into_any(),
                            "source" => view! { <recipe::Pending view=view.clone() /><recipe::SourceTab view /> }.into_any(),
                            "images" => view! { <recipe::ReloadForm view=view.clone() /><recipe::ShellImageForms view /> }.into_any(),
                            _ => view! { <recipe::Pending view=view.clone() /><recipe::RevisionsTab view reload /> }.into_any(),
                        },
                        Err(error) => view! { <ErrorBanner error /> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

/// The boot images that can deploy an OS image (the WDS rule: Windows PE of the same version
/// or newer).
#[component]
fn MatchingBootImages(id: i64) -> impl IntoView {
    let matching = Resource::new(|| (), move |_| boot_images_for_os_image(id));
    view! {
        <section class="panel" aria-label="Boot images for this image">
            <h2>"Boot images for this image"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match matching.await {
                        Ok(list) if list.is_empty() => view! {
                            <p class="warning" role="status">"No boot image has a Windows PE as new as this image's Windows: add one (Windows PE of the same version or newer) to deploy it."</p>
                        }.into_any(),
                        Ok(list) => view! {
                            <p class="muted">"Windows PE of the same version as this image's Windows, or newer:"</p>
                            <ul class="plain">
                                {list.into_iter().map(|b| view! {
                                    <li><a href=format!("/boot-images/{}", b.id)>{b.name}</a>" "<span class="muted">{format!("Windows PE {}", b.os_version)}</span></li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        Err(error) => view! { <ErrorBanner error /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// What an OS image's architecture may be set to: unknown stays unknown when saved.
const ARCHITECTURES: [(&str, &str); 6] = [
    ("", "Unknown"),
    ("x86", "x86"),
    ("amd64", "x64 (amd64)"),
    ("arm64", "ARM64"),
    ("arm", "ARM (32-bit)"),
    ("ia64", "Itanium (ia64)"),
];

/// Name, version, comment (and for OS images architecture and language), saved only if
/// nobody changed the image since this page loaded.
#[component]
fn EditForm(
    kind: Kind,
    view: ImageDetailView,
    reload: RwSignal<u32>,
    saved: RwSignal<bool>,
) -> impl IntoView {
    let edit = ServerAction::<EditImage>::new();
    Effect::new(move |_| match edit.value().get() {
        Some(Ok(_)) => {
            saved.set(true);
            reload.update(|n| *n += 1);
        }
        Some(Err(_)) => saved.set(false),
        None => {}
    });
    let os_fields = (kind == Kind::Os).then(|| {
        let arch = view.row.architecture.clone();
        view! {
            <label>"Architecture"
                <select name="architecture">
                    {ARCHITECTURES.map(|(value, label)| view! { <option value=value selected=arch == value>{label}</option> }).collect_view()}
                </select>
            </label>
            <label>"Language" <input name="language" value=view.language.clone() /></label>
        }
    });
    view! {
        <section class="panel" aria-label="General">
            <h2>"General"</h2>
            <ActionForm action=edit attr:class="grid">
                <input type="hidden" name="kind" value=kind.wire() />
                <input type="hidden" name="id" value=view.row.id />
                <input type="hidden" name="row_version" value=view.row_version />
                <label>"Name" <input name="name" required maxlength="128" value=view.row.name.clone() /></label>
                <label>"Version" <input name="version" maxlength="64" value=view.row.version.clone() /></label>
                <label>"Comment" <input name="comment" maxlength="2000" value=view.comment.clone() /></label>
                {os_fields}
                <button type="submit">"Save"</button>
            </ActionForm>
            {move || saved.get().then(|| view! { <p class="muted" role="status">"Saved."</p> })}
            {action_error(edit.value())}
        </section>
    }
}

/// Servicing jobs and deletion, each offered to exactly the viewers who may run it.
#[component]
fn Actions(kind: Kind, view: ImageDetailView) -> impl IntoView {
    let service = ServerAction::<ServiceImage>::new();
    let delete = ServerAction::<DeleteImage>::new();
    let navigate = use_navigate();
    let to_list = navigate.clone();
    Effect::new(move |_| {
        if let Some(Ok(job)) = service.value().get() {
            navigate(&format!("/jobs/{job}"), Default::default());
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            to_list(kind.base(), Default::default());
        }
    });
    let id = view.row.id;
    let may = view.may;
    let hidden = move || {
        view! {
            <input type="hidden" name="kind" value=kind.wire() />
            <input type="hidden" name="id" value=id />
        }
    };
    let verify = may.validate.then(|| {
        view! {
            <ActionForm action=service attr:class="row">
                {hidden()}
                <input type="hidden" name="action" value="verify" />
                <button type="submit" class="secondary">"Verify"</button>
                <span class="muted">"Checks every file's data against its hash."</span>
            </ActionForm>
        }
    });
    let rewrite = may.modify.then(|| {
        view! {
            <ActionForm action=service attr:class="row">
                {hidden()}
                <input type="hidden" name="action" value="optimize" />
                <label>"Compression"
                    <select name="compression">
                        <option value="lzx" selected>"Maximum (LZX)"</option>
                        <option value="xpress">"Fast (XPRESS)"</option>
                        <option value="none">"None"</option>
                    </select>
                </label>
                <button type="submit" class="secondary">"Optimize"</button>
            </ActionForm>
            <ActionForm action=service attr:class="row">
                {hidden()}
                <input type="hidden" name="action" value="split" />
                <label>"Split into parts of"
                    <span class="with-unit"><input name="part_mib" type="number" min="16" max="4095" value="4000" required />" MiB"</span>
                </label>
                <button type="submit" class="secondary">"Split"</button>
            </ActionForm>
        }
    });
    let extract = (may.extract && kind == Kind::Os && view.indexes.len() > 1).then(|| {
        view! {
            <ActionForm action=service attr:class="row">
                {hidden()}
                <input type="hidden" name="action" value="extract" />
                <label>"Extract image"
                    <select name="index">
                        {view.indexes.iter().map(|i| view! { <option value=i.index>{format!("{} — {}", i.index, i.name)}</option> }).collect_view()}
                    </select>
                </label>
                <label>"as" <input name="name" required maxlength="128" placeholder="Name of the new OS image" /></label>
                <button type="submit" class="secondary">"Extract index"</button>
            </ActionForm>
        }
    });
    let owned_note = if view.owned {
        "Its file, which Wimdeck wrote, is deleted too."
    } else {
        "Its file is not Wimdeck's and stays where it is."
    };
    let danger_zone = may.delete.then(|| {
        view! {
            <details class="danger-zone">
                <summary>{format!("Delete this {}…", kind.noun())}</summary>
                <p>{format!("\"{}\" is removed from the catalog. {owned_note}", view.row.name)}</p>
                <ActionForm action=delete attr:class="row">
                    {hidden()}
                    <input type="hidden" name="row_version" value=view.row_version />
                    <button type="submit" class="danger">{format!("Delete \"{}\"", view.row.name)}</button>
                </ActionForm>
                {action_error(delete.value())}
            </details>
        }
    });
    view! {
        <section class="panel" aria-label="Actions">
            <h2>"Actions"</h2>
            {verify}
            {rewrite}
            {extract}
            {action_error(service.value())}
            {danger_zone}
        </section>
    }
}
