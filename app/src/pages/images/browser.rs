//! The file browser of an image: one directory at a time, read from the WIM on demand.

use leptos::prelude::*;

use super::Kind;
use crate::{api::images::browse_image, components::error::ErrorBanner, format};

#[component]
pub fn FileBrowser(kind: Kind, id: i64, indexes: Vec<(u32, String)>) -> impl IntoView {
    let index = RwSignal::new(indexes.first().map(|(i, _)| *i).unwrap_or(1));
    let dir = RwSignal::new("/".to_owned());
    let entries = Resource::new(
        move || (index.get(), dir.get()),
        move |(index, dir)| browse_image(kind.wire().to_owned(), id, index, dir),
    );
    let enter = move |name: String| {
        dir.update(|d| {
            if !d.ends_with('/') {
                d.push('/');
            }
            d.push_str(&name);
        })
    };
    // The path as links: / › Windows › System32
    let crumbs = move || {
        let path = dir.get();
        let mut so_far = String::new();
        let mut links = vec![("/".to_owned(), "\u{2302} root".to_owned())];
        for part in path.split('/').filter(|p| !p.is_empty()) {
            so_far.push('/');
            so_far.push_str(part);
            links.push((so_far.clone(), part.to_owned()));
        }
        links
            .into_iter()
            .map(|(target, label)| {
                view! { <button type="button" class="link" on:click=move |_| dir.set(target.clone())>{label}</button> " › " }
            })
            .collect_view()
    };
    let picker = (indexes.len() > 1).then(|| {
        view! {
            <label>"Image"
                <select on:change=move |ev| {
                    if let Ok(i) = event_target_value(&ev).parse() {
                        index.set(i);
                        dir.set("/".into());
                    }
                }>
                    {indexes.iter().map(|(i, name)| view! { <option value=*i>{format!("{i} — {name}")}</option> }).collect_view()}
                </select>
            </label>
        }
    });
    view! {
        <section class="panel" aria-label="Files">
            <h2>"Files"</h2>
            {picker}
            <nav class="crumbs" aria-label="Folder">{crumbs}</nav>
            <Transition fallback=|| view! { <p class="muted">"Reading…"</p> }>
                {move || Suspend::new(async move {
                    match entries.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"This folder is empty."</p> }.into_any(),
                        Ok(list) => view! {
                            <div class="table-scroll">
                                <table class="list" aria-label="Folder contents">
                                    <thead><tr><th>"Name"</th><th>"Size"</th><th>"Modified (UTC)"</th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|e| {
                                            let name = e.name.clone();
                                            let label = if e.is_dir { format!("{}/", e.name) } else { e.name.clone() };
                                            let cell = if e.is_dir {
                                                view! { <button type="button" class="link" on:click=move |_| enter(name.clone())>{label}</button> }.into_any()
                                            } else {
                                                view! { <span>{label}</span> }.into_any()
                                            };
                                            view! {
                                                <tr>
                                                    <td data-label="Name">{cell}</td>
                                                    <td data-label="Size">{if e.is_dir { String::new() } else { format::bytes(e.size) }}</td>
                                                    <td class="when" data-label="Modified">{format::utc(e.modified_ms)}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any(),
                        Err(error) => view! { <ErrorBanner error /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
