//! Drivers: the catalog with its filters, the import of packages (by path or upload), and a
//! driver's properties (enable, categories, delete).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{
    components::Form,
    hooks::{use_navigate, use_params_map, use_query_map},
};

use crate::{
    api::drivers::{
        DeleteDriver, DriverDetailView, DriverListView, DriverRow, ImportDrivers,
        SetDriverCategories, SetDriverEnabled, driver_detail, list_drivers,
    },
    components::error::{ErrorBanner, action_error},
    format,
    pages::{distribution::DistributionPanel, images::upload::Uploader, security::SecurityPanel},
};

#[component]
pub fn DriversPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).filter(|v| !v.is_empty());
    let list = Resource::new(
        move || {
            (
                param("q"),
                param("class"),
                param("arch"),
                param("category"),
                param("signed"),
                param("enabled"),
                param("package"),
            )
        },
        move |(q, class, arch, category, signed, enabled, package)| {
            list_drivers(
                q,
                class,
                arch,
                category,
                signed,
                enabled,
                package.and_then(|p| p.parse().ok()),
            )
        },
    );
    view! {
        <Title text="Drivers" />
        <div class="page-head"><h1>"Drivers"</h1></div>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(view) => view! { <DriverList view param /> }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// A `<select>` of `options` with an "Any" first.
pub(crate) fn choice(
    label: &'static str,
    name: &'static str,
    current: String,
    options: Vec<(String, String)>,
) -> impl IntoView {
    view! {
        <label>{label}
            <select name=name>
                <option value="" selected=current.is_empty()>"Any"</option>
                {options.into_iter().map(|(value, text)| {
                    let selected = current == value;
                    view! { <option value=value selected=selected>{text}</option> }
                }).collect_view()}
            </select>
        </label>
    }
}

fn pairs(values: &[&str]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| (v.to_string(), v.to_string()))
        .collect()
}

#[component]
fn DriverList(
    view: DriverListView,
    param: impl Fn(&str) -> Option<String> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let current = move |name: &str| param(name).unwrap_or_default();
    let shown = view.rows.len();
    let import = view.may_edit.then(|| view! { <ImportPanel /> });
    let package_filter = param("package").and_then(|p| {
        view.packages
            .iter()
            .find(|pk| pk.id.to_string() == p)
            .map(|pk| {
                view! {
                    <p class="muted">
                        {format!("Showing the drivers of the package \"{}\". ", pk.name)}
                        <a href="/drivers">"Show all"</a>
                    </p>
                    <DistributionPanel object_type="driver-package" id=pk.id />
                    <SecurityPanel object_type="driver-package" id=pk.id />
                }
            })
    });
    view! {
        <Form method="GET" action="/drivers" attr:class="filters">
            <label>"Filter"
                <input type="search" name="q" value=current("q") placeholder="Name, provider, INF, hardware ID…" />
            </label>
            {choice("Class", "class", current("class"), view.classes.iter().map(|c| (c.clone(), c.clone())).collect())}
            {choice("Architecture", "arch", current("arch"), pairs(&["x86", "amd64", "arm64"]))}
            {choice("Category", "category", current("category"), view.categories.iter().map(|c| (c.clone(), c.clone())).collect())}
            {choice("Signed", "signed", current("signed"), vec![("yes".into(), "Signed".into()), ("no".into(), "Unsigned".into())])}
            {choice("Enabled", "enabled", current("enabled"), vec![("yes".into(), "Enabled".into()), ("no".into(), "Disabled".into())])}
            <button type="submit" class="secondary">"Filter"</button>
        </Form>
        {package_filter}
        <p class="muted">{format!("{shown} of {} shown", view.total)}</p>
        {(shown == 0).then(|| view! { <p class="muted">"No driver matches."</p> })}
        <DriverTable rows=view.rows label="Drivers" />
        {import}
        <section class="panel" aria-label="Imported packages">
            <h2>"Imported packages"</h2>
            {view.packages.is_empty().then(|| view! { <p class="muted">"None yet."</p> })}
            <ul class="plain">
                {view.packages.into_iter().map(|p| view! {
                    <li>
                        <a href=format!("/drivers?package={}", p.id)>{p.name.clone()}</a>
                        " "<a href=format!("/drivers?package={}#security", p.id) class="muted">"(security)"</a>
                        {format!(" — {} ({}), {} driver(s), {} rejected, by {} on {}", p.source, p.format, p.driver_count, p.rejected_count, p.imported_by, format::utc(p.imported_at_ms))}
                        {p.job_id.map(|j| view! { " · " <a href=format!("/jobs/{j}")>"import job"</a> })}
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
}

/// Drivers as a table (cards on a phone).
#[component]
pub(crate) fn DriverTable(
    rows: Vec<DriverRow>,
    label: &'static str,
    /// An extra last column per row (Add / Remove buttons on a boot image).
    #[prop(optional, into)]
    action: Option<Callback<DriverRow, AnyView>>,
) -> impl IntoView {
    // Every caller says in words when there is nothing to list; an empty table adds only its head.
    (!rows.is_empty()).then(move || view! {
        <div class="table-scroll">
            <table class="list" aria-label=label>
                <thead><tr>
                    <th>"Name"</th><th>"Class"</th><th>"Provider"</th><th>"Version"</th>
                    <th>"Date"</th><th>"Architectures"</th><th>"Signature"</th><th>"State"</th>
                    <th>"Categories"</th>
                    {action.is_some().then(|| view! { <th><span class="visually-hidden">"Action"</span></th> })}
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|row| {
                        let extra = action.map(|a| view! { <td data-label="">{a.run(row.clone())}</td> });
                        view! {
                            <tr data-driver-id=row.id>
                                <td data-label="Name"><span><a href=format!("/drivers/{}", row.id)>{row.name.clone()}</a>" "<span class="muted">{row.inf_name.clone()}</span></span></td>
                                <td data-label="Class">{row.class.clone()}</td>
                                <td data-label="Provider">{row.provider.clone()}</td>
                                <td data-label="Version">{row.version.clone()}</td>
                                <td data-label="Date">{row.date.clone()}</td>
                                <td data-label="Architectures">{row.architectures.clone()}</td>
                                <td data-label="Signature">
                                    {if row.signed {
                                        view! { <span class="badge signed" title=format!("Signed by {}", row.signature)>{format!("Signed: {}", row.signature)}</span> }.into_any()
                                    } else {
                                        view! { <span class="badge unsigned" title=row.signature.clone()>"Unsigned"</span> }.into_any()
                                    }}
                                </td>
                                <td data-label="State">{if row.enabled { "Enabled" } else { "Disabled" }}</td>
                                <td data-label="Categories">{row.categories.join(", ")}</td>
                                {extra}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    })
}

/// Import Driver: a folder, `.zip` or `.cab` on the server, or one uploaded from here.
#[component]
fn ImportPanel() -> impl IntoView {
    let import = ServerAction::<ImportDrivers>::new();
    let navigate = use_navigate();
    let source = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(job)) = import.value().get() {
            navigate(&format!("/jobs/{job}"), Default::default());
        }
    });
    view! {
        <section class="panel" aria-label="Import drivers">
            <h2>"Import drivers"</h2>
            <p class="muted">"Every INF in the package becomes one driver; drivers already in the catalog are kept once. Archives are checked for entries that leave the package, links and decompression bombs."</p>
            <ActionForm action=import attr:class="grid">
                <label>"Package (folder, .zip or .cab)"
                    <input name="source" required placeholder="\\\\deploy01\\sources\\drivers\\intel-lan.zip" prop:value=move || source.get() on:input=move |ev| source.set(event_target_value(&ev)) />
                </label>
                <label>"Name" <input name="name" maxlength="128" placeholder="Default: the file or folder name" /></label>
                <label>"Categories" <input name="categories" placeholder="Comma-separated, e.g. Lab, Dell" /></label>
                <button type="submit">"Import"</button>
            </ActionForm>
            {action_error(import.value())}
            <Uploader
                label="Driver package (.zip or .cab) from this computer"
                accept=".zip,.cab"
                hint="Once uploaded, the package's path is filled in above."
                on_uploaded=Callback::new(move |path: String| source.set(path))
            />
        </section>
    }
}

#[component]
pub fn DriverPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let reload = RwSignal::new(0u32);
    let detail = Resource::new(move || (id(), reload.get()), |(id, _)| driver_detail(id));
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Ok(view) => view! { <DriverProperties view reload /> }.into_any(),
                    Err(error) => view! { <Title text="Driver" /><ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn DriverProperties(view: DriverDetailView, reload: RwSignal<u32>) -> impl IntoView {
    let row = view.row.clone();
    let set_enabled = ServerAction::<SetDriverEnabled>::new();
    let set_categories = ServerAction::<SetDriverCategories>::new();
    let delete = ServerAction::<DeleteDriver>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if matches!(set_enabled.value().get(), Some(Ok(())))
            || matches!(set_categories.value().get(), Some(Ok(())))
        {
            reload.update(|n| *n += 1);
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            navigate("/drivers", Default::default());
        }
    });
    let signature = if row.signed {
        format!("Signed by {}", row.signature)
    } else {
        format!("Unsigned: {}", row.signature)
    };
    let edit = view.may_edit.then(|| {
        let in_use = !view.used_by.is_empty();
        let row = row.clone();
        view! {
            <section class="panel" aria-label="Actions">
                <h2>"Actions"</h2>
                <ActionForm action=set_enabled attr:class="row">
                    <input type="hidden" name="id" value=row.id />
                    <input type="hidden" name="row_version" value=row.row_version />
                    <input type="hidden" name="enabled" value=(!row.enabled).to_string() />
                    <button type="submit" class="secondary">{if row.enabled { "Disable" } else { "Enable" }}</button>
                    <span class="muted">"Only enabled drivers can be added to boot images."</span>
                </ActionForm>
                {action_error(set_enabled.value())}
                <ActionForm action=set_categories attr:class="row">
                    <input type="hidden" name="id" value=row.id />
                    <input type="hidden" name="row_version" value=row.row_version />
                    <label>"Categories" <input name="categories" value=row.categories.join(", ") placeholder="Comma-separated" /></label>
                    <button type="submit" class="secondary">"Save categories"</button>
                </ActionForm>
                {action_error(set_categories.value())}
                <details class="danger-zone">
                    <summary>"Delete this driver…"</summary>
                    {in_use.then(|| view! { <p>"It is used by boot images; remove it from them first."</p> })}
                    <ActionForm action=delete attr:class="row">
                        <input type="hidden" name="id" value=row.id />
                        <input type="hidden" name="row_version" value=row.row_version />
                        <button type="submit" class="danger">{format!("Delete \"{}\"", row.name)}</button>
                    </ActionForm>
                    {action_error(delete.value())}
                </details>
            </section>
        }
    });
    view! {
        <Title text=row.name.clone() />
        <div class="page-head">
            <h1>{row.name.clone()}</h1>
            <span class=if row.enabled { "badge" } else { "badge unsigned" }>{if row.enabled { "Enabled" } else { "Disabled" }}</span>
            <a href="/drivers">"All drivers"</a>
        </div>
        <section class="panel" aria-label="Properties">
            <h2>"Properties"</h2>
            <dl class="facts">
                <dt>"INF"</dt><dd>{row.inf_name.clone()}</dd>
                <dt>"Class"</dt><dd>{format!("{} {}", row.class, view.class_guid)}</dd>
                <dt>"Provider"</dt><dd>{row.provider.clone()}</dd>
                <dt>"Version"</dt><dd>{row.version.clone()}</dd>
                <dt>"Date"</dt><dd>{row.date.clone()}</dd>
                <dt>"Architectures"</dt><dd>{row.architectures.clone()}</dd>
                <dt>"Signature"</dt><dd>{signature}</dd>
                <dt>"Categories"</dt><dd>{row.categories.join(", ")}</dd>
                <dt>"Size"</dt><dd>{format::bytes(row.size_bytes)}</dd>
                <dt>"Content hash"</dt><dd class="hash">{view.content_hash.clone()}</dd>
                <dt>"Package"</dt><dd>{view.package.clone().map(|p| view! { <a href=format!("/drivers?package={}", p.id)>{p.name}</a> })}</dd>
                <dt>"Imported"</dt><dd>{format!("{} by {}", format::utc(view.created_at_ms), view.created_by)}</dd>
                <dt>"Used by"</dt>
                <dd>
                    {view.used_by.is_empty().then_some("no boot image")}
                    {view.used_by.iter().map(|(id, name)| view! { <a href=format!("/boot-images/{id}")>{name.clone()}</a>" " }).collect_view()}
                </dd>
            </dl>
        </section>
        <section class="panel" aria-label="Hardware IDs">
            <h2>"Hardware IDs"</h2>
            <div class="table-scroll">
                <table class="list" aria-label="Hardware IDs">
                    <thead><tr><th>"Hardware ID"</th><th>"Device"</th><th>"Architecture"</th><th>"Compatible IDs"</th></tr></thead>
                    <tbody>
                        {view.hardware_ids.into_iter().map(|h| view! {
                            <tr>
                                <td data-label="Hardware ID" class="hash">{h.id}</td>
                                <td data-label="Device">{h.description}</td>
                                <td data-label="Architecture">{h.architecture}</td>
                                <td data-label="Compatible IDs">{h.compatible}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
        <section class="panel" aria-label="Files">
            <h2>"Files"</h2>
            <ul class="plain">{view.files.into_iter().map(|f| view! { <li class="hash">{f}</li> }).collect_view()}</ul>
        </section>
        {edit}
    }
}
