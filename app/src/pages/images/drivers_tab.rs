//! The Drivers tab of a boot image: its driver list, the catalog drivers that can be added
//! (with the three filters admins know, on by default), and applying the list as a new
//! revision of the image.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use crate::{
    api::drivers::{
        AddBootImageDriver, ApplyBootImageDrivers, BootDriversView, DriverRow,
        RemoveBootImageDriver, boot_image_drivers,
    },
    components::error::{ErrorBanner, action_error},
    pages::drivers::DriverTable,
};

#[component]
pub(super) fn DriversTab(image_id: i64) -> impl IntoView {
    let hide_other_arch = RwSignal::new(true);
    let hide_other_classes = RwSignal::new(true);
    let hide_unsigned = RwSignal::new(true);
    let text = RwSignal::new(String::new());
    let add = ServerAction::<AddBootImageDriver>::new();
    let remove = ServerAction::<RemoveBootImageDriver>::new();
    // The image's own list and the catalog drivers that can be added load apart: a filter
    // change reloads only the second, and each shows its own error where it would appear.
    let listed = Resource::new(
        move || (add.version().get(), remove.version().get()),
        move |_| boot_image_drivers(image_id, None, None, None, None),
    );
    let available = Resource::new(
        move || {
            (
                text.get(),
                hide_other_arch.get(),
                hide_other_classes.get(),
                hide_unsigned.get(),
                add.version().get(),
                remove.version().get(),
            )
        },
        move |(text, arch, class, unsigned, _, _)| {
            boot_image_drivers(
                image_id,
                Some(text),
                Some(!arch),
                Some(!class),
                Some(!unsigned),
            )
        },
    );
    let check = |label: &'static str, signal: RwSignal<bool>| {
        view! {
            <label>
                <input type="checkbox" prop:checked=move || signal.get() on:change=move |ev| signal.set(event_target_checked(&ev)) />
                {label}
            </label>
        }
    };
    view! {
        <section class="panel" aria-label="Drivers">
            <h2>"Drivers"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match listed.await {
                        Ok(v) => view! { <Lists view=v remove /> }.into_any(),
                        Err(error) => view! { <ErrorBanner error /> }.into_any(),
                    }
                })}
            </Transition>
            {action_error(add.value())}
            {action_error(remove.value())}
            <h3>"Add drivers from the catalog"</h3>
            <div class="filters">
                <label>"Filter"
                    <input type="search" placeholder="Name, provider, hardware ID…" prop:value=move || text.get() on:change=move |ev| text.set(event_target_value(&ev)) />
                </label>
                {check("Hide drivers that do not match the architecture of the boot image", hide_other_arch)}
                {check("Hide drivers that are not in a storage or network class", hide_other_classes)}
                {check("Hide drivers that are not digitally signed", hide_unsigned)}
            </div>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match available.await {
                        Ok(v) => view! { <Available view=v add /> }.into_any(),
                        Err(error) => view! { <ErrorBanner error /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Lists(view: BootDriversView, remove: ServerAction<RemoveBootImageDriver>) -> impl IntoView {
    let apply = ServerAction::<ApplyBootImageDrivers>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(job)) = apply.value().get() {
            navigate(&format!("/jobs/{job}"), Default::default());
        }
    });
    let image_id = view.image_id;
    let state = match (view.pending, view.injected.len()) {
        (true, _) => {
            "The list differs from the boot image: build it to write a new revision.".to_owned()
        }
        (false, 0) => "No driver has been added to this boot image.".to_owned(),
        (false, count) => format!(
            "Revision {} of the boot image contains these {count} driver(s).",
            view.current_revision
        ),
    };
    let may_edit = view.may_edit && view.customizable;
    let remove_button = Callback::new(move |row: DriverRow| {
        view! {
            <ActionForm action=remove attr:class="inline">
                <input type="hidden" name="image_id" value=image_id />
                <input type="hidden" name="driver_id" value=row.id />
                <button type="submit" class="secondary">{format!("Remove {}", row.inf_name)}</button>
            </ActionForm>
        }
        .into_any()
    });
    let in_file: Vec<(i64, bool)> = view.listed.iter().map(|l| (l.row.id, l.in_file)).collect();
    let rows: Vec<DriverRow> = view.listed.into_iter().map(|l| l.row).collect();
    view! {
        {(!view.customizable).then(|| view! { <p class="muted">"Drivers can be added to Windows PE 10 boot images only."</p> })}
        <p role="status" class="drivers-state">{state}</p>
        {(!rows.is_empty()).then(|| view! {
            <p class="muted">{in_file.iter().filter(|(_, f)| !*f).count().to_string()}" of the listed drivers are not in the boot image yet."</p>
        })}
        {if may_edit {
            view! { <DriverTable rows label="Drivers of this boot image" action=remove_button /> }.into_any()
        } else {
            view! { <DriverTable rows label="Drivers of this boot image" /> }.into_any()
        }}
        {(!view.injected.is_empty()).then(|| view! {
            <details>
                <summary>"Where they are in Windows PE"</summary>
                <ul class="plain">
                    {view.injected.iter().map(|(name, version, folder)| view! { <li>{format!("{name} {version}: ")}<span class="hash">{folder.clone()}</span></li> }).collect_view()}
                </ul>
                <p class="muted">"X:\\Unattend.xml lists these folders (Microsoft-Windows-PnpCustomizationsWinPE, DriverPaths); wpeinit installs them at start-up."</p>
            </details>
        })}
        {may_edit.then(|| view! {
            <ActionForm action=apply attr:class="row">
                <input type="hidden" name="image_id" value=image_id />
                <button type="submit" disabled=!view.pending>"Apply drivers"</button>
                <span class="muted">"Builds a new revision of the boot image from its base and its recipe, this list included; the source is never changed."</span>
            </ActionForm>
        })}
        {action_error(apply.value())}
    }
}

#[component]
fn Available(view: BootDriversView, add: ServerAction<AddBootImageDriver>) -> impl IntoView {
    let image_id = view.image_id;
    let may_edit = view.may_edit && view.customizable;
    let add_button = Callback::new(move |row: DriverRow| {
        view! {
            <ActionForm action=add attr:class="inline">
                <input type="hidden" name="image_id" value=image_id />
                <input type="hidden" name="driver_id" value=row.id />
                <button type="submit" class="secondary">{format!("Add {}", row.inf_name)}</button>
            </ActionForm>
        }
        .into_any()
    });
    let count = view.available.len();
    view! {
        <p class="muted">{format!("{count} enabled catalog driver(s) can be added with these filters.")}</p>
        {if may_edit {
            view! { <DriverTable rows=view.available label="Catalog drivers" action=add_button /> }.into_any()
        } else {
            view! { <DriverTable rows=view.available label="Catalog drivers" /> }.into_any()
        }}
    }
}
