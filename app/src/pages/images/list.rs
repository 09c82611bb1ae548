//! The Boot Images and OS Images lists: sortable, filterable, cards on a phone.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::Form,
    hooks::{use_navigate, use_query_map},
};

use super::{Kind, kilobytes, state_label};
use crate::{
    api::images::{ImageListView, UpdateDefaultBootImages, list_images},
    components::error::{ErrorBanner, action_error},
    format,
};

#[component]
pub fn BootImagesPage() -> impl IntoView {
    view! { <ImagesList kind=Kind::Boot /> }
}

#[component]
pub fn OsImagesPage() -> impl IntoView {
    view! { <ImagesList kind=Kind::Os /> }
}

#[component]
fn ImagesList(kind: Kind) -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).filter(|v| !v.is_empty());
    let list = Resource::new(
        move || (param("q"), param("arch"), param("sort"), param("desc")),
        move |(q, arch, sort, desc)| {
            list_images(
                kind.wire().to_owned(),
                q,
                arch,
                sort,
                desc.map(|d| d == "1"),
            )
        },
    );
    view! {
        <Title text=kind.title() />
        <div class="page-head">
            <h1>{kind.title()}</h1>
        </div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(view) => view! { <ListView kind view param /> }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn ListView(
    kind: Kind,
    view: ImageListView,
    param: impl Fn(&str) -> Option<String> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let text = param("q").unwrap_or_default();
    let arch = param("arch").unwrap_or_default();
    let sort = param("sort").unwrap_or_else(|| "name".into());
    let desc = param("desc").is_some_and(|d| d == "1");
    // A header links to the list sorted by its column; again, to the reverse order.
    let header = {
        let (text, arch, sort) = (text.clone(), arch.clone(), sort.clone());
        move |column: &'static str, label: &'static str| {
            let reverse = sort == column && !desc;
            let mut q = vec![format!("sort={column}")];
            if reverse {
                q.push("desc=1".into());
            }
            if !text.is_empty() {
                q.push(format!("q={}", format::url_component(&text)));
            }
            if !arch.is_empty() {
                q.push(format!("arch={arch}"));
            }
            let marker = match (sort == column, desc) {
                (true, false) => " ▲",
                (true, true) => " ▼",
                _ => "",
            };
            let aria = match (sort == column, desc) {
                (true, false) => "ascending",
                (true, true) => "descending",
                _ => "none",
            };
            view! {
                <th aria-sort=aria><a href=format!("{}?{}", kind.base(), q.join("&"))>{label}{marker}</a></th>
            }
        }
    };
    let shown = view.rows.len();
    let empty_text = if view.total == 0 {
        format!("No {}s yet.", kind.noun())
    } else {
        format!("No {} matches the filter.", kind.noun())
    };
    let defaults = view
        .may_update_defaults
        .then(|| view! { <UpdateDefaults /> });
    let add = view.may_edit.then(|| {
        view! { <a class="button" href=format!("{}/add", kind.base())>{format!("Add {}", kind.noun())}</a> }
    });
    view! {
        <Form method="GET" action=kind.base() attr:class="filters">
            <label>"Filter"
                <input type="search" name="q" value=text.clone() placeholder="Name, version, language…" />
            </label>
            <label>"Architecture"
                <select name="arch">
                    <option value="" selected=arch.is_empty()>"Any"</option>
                    {view.architectures.iter().map(|a| view! { <option value=a.clone() selected=arch == *a>{a.clone()}</option> }).collect_view()}
                </select>
            </label>
            <input type="hidden" name="sort" value=sort.clone() />
            <button type="submit" class="secondary">"Filter"</button>
            {add}
        </Form>
        {defaults}
        <p class="muted">{format!("{shown} of {} shown", view.total)}</p>
        {(shown == 0).then(|| view! { <p class="muted">{empty_text}</p> })}
        <div class="table-scroll">
            <table class="list" aria-label=kind.title()>
                <thead><tr>
                    {header("name", "Name")}
                    {header("version", "Version")}
                    {header("arch", "Architecture")}
                    {header("os", "OS version")}
                    {(kind == Kind::Boot).then(|| view! { <th>"WinPE"</th> })}
                    {(kind == Kind::Os).then(|| view! { <th>"Images"</th> })}
                    <th>"Languages"</th>
                    {header("size", "Size (KB)")}
                    {header("file", "File size")}
                    <th>"State"</th>
                    <th>"Distribution"</th>
                    {header("changed", "Last changed")}
                </tr></thead>
                <tbody>
                    {view.rows.into_iter().map(|row| {
                        let href = format!("{}/{}", kind.base(), row.id);
                        let default = row.default_for.clone().map(|a| view! { " " <span class="badge">{format!("default {a}")}</span> });
                        let marks = super::marks(&row.marks);
                        view! {
                            <tr data-image-id=row.id>
                                <td data-label="Name"><span><a href=href>{row.name.clone()}</a>{default}{marks}</span></td>
                                <td data-label="Version">{row.version.clone()}</td>
                                <td data-label="Architecture">{row.architecture.clone()}</td>
                                <td data-label="OS version">{row.os_version.clone()}</td>
                                {(kind == Kind::Boot).then(|| view! { <td data-label="WinPE">{row.winpe_release.clone()}</td> })}
                                {(kind == Kind::Os).then(|| view! { <td data-label="Images">{row.image_count}</td> })}
                                <td data-label="Languages">{row.languages.clone()}</td>
                                <td data-label="Size (KB)">{kilobytes(row.decompressed_bytes)}</td>
                                <td data-label="File size">{format::bytes(row.file_bytes)}</td>
                                <td data-label="State"><span class=format!("badge image-{}", row.state)>{state_label(&row.state)}</span></td>
                                <td data-label="Distribution">{row.distribution.clone()}</td>
                                <td class="when" data-label="Last changed">{format::utc(row.updated_at_ms)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Recreates the default boot images from their configured Windows PE sources if changed.
#[component]
fn UpdateDefaults() -> impl IntoView {
    let update = ServerAction::<UpdateDefaultBootImages>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(job)) = update.value().get() {
            navigate(&format!("/jobs/{job}"), Default::default());
        }
    });
    view! {
        <ActionForm action=update attr:class="row">
            <button type="submit" class="secondary">"Update default boot images"</button>
            <span class="muted">"Regenerates them if their Windows PE source changed; custom boot images are left alone."</span>
        </ActionForm>
        {action_error(update.value())}
    }
}
