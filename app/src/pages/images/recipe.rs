//! A boot image's recipe tabs: Customization, Optional components, Data source and
//! Revisions (with diff and rollback), and making capture and discover images.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::upload::Uploader;
use crate::{
    api::boot::{
        BootImageDiff, BootRecipeView, BuildBootImage, ChangeBootImageSource, CreateShellImage,
        CustomizeBootImage, DiffView, ReloadBootImage, RollbackBootImage, ScheduleBootImageRebuild,
        boot_image_schedules, boot_image_source_version,
    },
    components::error::{ErrorBanner, action_error},
    format,
};

/// Goes to the job an action queued.
fn follow_job<A>(action: ServerAction<A>)
where
    A: leptos::server_fn::ServerFn<Output = i64, Error = crate::AppError>
        + Clone
        + Send
        + Sync
        + 'static,
    A::Output: Send + Sync,
{
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(job)) = action.value().get() {
            navigate(&format!("/jobs/{job}"), Default::default());
        }
    });
}

/// What waits to be built, with the button that builds it.
#[component]
pub(super) fn Pending(view: BootRecipeView) -> impl IntoView {
    let build = ServerAction::<BuildBootImage>::new();
    follow_job(build);
    let image_id = view.image_id;
    let pending = view.pending.clone();
    view! {
        {view.warnings.iter().map(|w| view! { <p class="warning" role="status">{w.clone()}</p> }).collect_view()}
        {(!pending.is_empty()).then(|| view! {
            <div class="pending" role="status">
                <p>{format!("Not built yet (the current revision is {}):", view.current_revision)}</p>
                <ul class="plain">{pending.iter().map(|p| view! { <li>{p.clone()}</li> }).collect_view()}</ul>
                {view.may_modify.then(|| view! {
                    <ActionForm action=build attr:class="row">
                        <input type="hidden" name="image_id" value=image_id />
                        <button type="submit">"Build now"</button>
                        <span class="muted">"Writes a new revision from the base and this recipe, verified."</span>
                    </ActionForm>
                })}
                {action_error(build.value())}
            </div>
        })}
    }
}

/// The Customization tab.
#[component]
pub(super) fn CustomizationTab(view: BootRecipeView, reload: RwSignal<u32>) -> impl IntoView {
    let save = ServerAction::<CustomizeBootImage>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(outcome)) = save.value().get() {
            match outcome.job {
                Some(job) => navigate(&format!("/jobs/{job}"), Default::default()),
                None => reload.update(|n| *n += 1),
            }
        }
    });
    if !view.customizable {
        return view! {
            <section class="panel" aria-label="Customization">
                <h2>"Customization"</h2>
                <p class="muted">{view.not_customizable.clone().unwrap_or_default()}</p>
            </section>
        }
        .into_any();
    }
    let c = view.customization.clone();
    let editable = view.may_modify;
    let prestart_on = RwSignal::new(!c.prestart_command.is_empty());
    let scratch_default = match view.image_scratch_mb {
        Some(mb) => format!("As the image has it ({mb} MB)"),
        None => "As the image has it (Windows PE's default, 32 MB)".to_owned(),
    };
    let scratch = c.scratch_mb;
    let locale = c.input_locale.clone();
    let language = c.ui_language.clone();
    // A file uploaded from this computer is named `upload:<id>` in the field it is for.
    let background_from = RwSignal::new(String::new());
    // Which button sent the form: "Save and build" queues the build as well.
    let and_build = RwSignal::new(false);
    let prestart_from = RwSignal::new(String::new());
    view! {
        <section class="panel" aria-label="Customization">
            <h2>"Customization"</h2>
            <ActionForm action=save attr:class="grid">
                <input type="hidden" name="image_id" value=view.image_id />
                <input type="hidden" name="recipe_version" value=view.recipe_version />
                <input type="hidden" name="build" prop:value=move || if and_build.get() { "on" } else { "" } />
                <fieldset disabled=!editable>
                    <legend>"Prestart command"</legend>
                    <label class="check">
                        <input type="checkbox" name="prestart" prop:checked=move || prestart_on.get() on:change=move |ev| prestart_on.set(event_target_checked(&ev)) />
                        "Enable prestart command"
                    </label>
                    <label>"Command line"
                        <input name="prestart_command" maxlength="1024" value=c.prestart_command.clone() placeholder="cmd /c prestart.cmd" />
                    </label>
                    <p class="muted">"Runs once Windows PE has its network, before anything else the image starts; the deployment waits until it returns. Run scripts with cmd /c."</p>
                    <label>"Files for the command (a folder, .zip or .cab in the source folders, or one uploaded below)"
                        <input name="prestart_files" placeholder=c.prestart_files.clone().unwrap_or_else(|| "none".into())
                            prop:value=move || prestart_from.get() on:input=move |ev| prestart_from.set(event_target_value(&ev)) />
                    </label>
                    {c.prestart_files.clone().map(|files| view! {
                        <p class="muted">{format!("Now: {files}, copied to X:\\Windows\\Wimdeck\\Prestart, where the command runs.")}</p>
                        <label class="check"><input type="checkbox" name="no_prestart_files" />"No files"</label>
                    })}
                </fieldset>
                <fieldset disabled=!editable>
                    <legend>"Background"</legend>
                    <p>{match &c.background {
                        Some(name) => format!("Custom: {name}"),
                        None => "Windows PE's own background".to_owned(),
                    }}</p>
                    <label>"New background (PNG, JPEG or BMP in the source folders, or one uploaded below)"
                        <input name="background" placeholder="\\\\deploy01\\sources\\branding\\background.png"
                            prop:value=move || background_from.get() on:input=move |ev| background_from.set(event_target_value(&ev)) />
                    </label>
                    {c.background.is_some().then(|| view! {
                        <label class="check"><input type="checkbox" name="default_background" />"Use Windows PE's own background"</label>
                    })}
                </fieldset>
                <fieldset disabled=!editable>
                    <legend>"Windows PE"</legend>
                    <label class="check">
                        <input type="checkbox" name="command_support" checked=c.command_support />
                        "Enable command support (testing only)"
                    </label>
                    <p class="muted">"A command prompt opens when Windows PE starts, beside whatever runs next. Turn it off before the image reaches production."</p>
                    <label>"Scratch space"
                        <select name="scratch_mb">
                            <option value="" selected=scratch.is_none()>{scratch_default}</option>
                            {[32u32, 64, 128, 256, 512].map(|mb| view! { <option value=mb selected=scratch == Some(mb)>{format!("{mb} MB")}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>"Input locale"
                        <select name="input_locale">
                            <option value="" selected=locale.is_empty()>"As the image has it"</option>
                            {view.input_locales.iter().map(|(value, label)| view! { <option value=value.clone() selected=*value == locale>{label.clone()}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>"Windows PE language"
                        <select name="ui_language">
                            <option value="" selected=language.is_empty()>"As the image has it"</option>
                            {view.languages.iter().map(|(value, label)| view! { <option value=value.clone() selected=*value == language>{label.clone()}</option> }).collect_view()}
                        </select>
                    </label>
                </fieldset>
                {editable.then(|| view! {
                    <div class="row">
                        <button type="submit" on:click=move |_| and_build.set(false)>"Save"</button>
                        <button type="submit" class="secondary" on:click=move |_| and_build.set(true)>"Save and build"</button>
                    </div>
                })}
            </ActionForm>
            {editable.then(|| view! {
                <details class="uploads">
                    <summary>"Upload a background or prestart files from this computer"</summary>
                    <Uploader
                        label="Background picture"
                        accept=".png,.jpg,.jpeg,.bmp"
                        hint="PNG, JPEG or BMP, at most 7680×4320 pixels; Windows PE shows it as JPEG."
                        on_uploaded=Callback::new(move |path: String| background_from.set(path))
                    />
                    <Uploader
                        label="Prestart files"
                        accept=".zip,.cab"
                        hint="A .zip or .cab of the files the command needs."
                        on_uploaded=Callback::new(move |path: String| prestart_from.set(path))
                    />
                </details>
            })}
            {move || save.value().get().and_then(Result::ok).map(|outcome| view! {
                <p class="muted" role="status">"Saved."</p>
                {outcome.warnings.into_iter().map(|w| view! { <p class="warning">{w}</p> }).collect_view()}
            })}
            {action_error(save.value())}
        </section>
    }
    .into_any()
}

/// The Optional components tab.
#[component]
pub(super) fn ComponentsTab(view: BootRecipeView) -> impl IntoView {
    view! {
        <section class="panel" aria-label="Optional components">
            <h2>"Optional components"</h2>
            <p class="muted">"Read from the image's servicing packages. Adding components needs Windows' servicing stack (DISM /Add-Package); Wimdeck shows what the image has."</p>
            <div class="table-scroll">
                <table class="list" aria-label="Components">
                    <thead><tr><th>"Component"</th><th>"In the image"</th><th>"Languages"</th><th>"What it is"</th></tr></thead>
                    <tbody>
                        {view.components.iter().map(|c| {
                            let present = if c.present { "yes" } else { "no" };
                            let badge = if c.present { "badge" } else if c.usual { "badge unsigned" } else { "badge" };
                            view! {
                                <tr data-component=c.name.clone()>
                                    <td data-label="Component">{c.name.clone()}</td>
                                    <td data-label="In the image"><span class=badge>{present}</span></td>
                                    <td data-label="Languages">{c.languages.clone()}</td>
                                    <td data-label="What it is">{c.detail.clone()}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <p class="muted">{format!("Languages the image can show: {}.", if view.languages.is_empty() { "none found".to_owned() } else { view.languages.iter().map(|(l, _)| l.clone()).collect::<Vec<_>>().join(", ") })}</p>
        </section>
    }
}

/// The Data source tab: where the base comes from, the source's Windows PE beside the
/// image's, reloading and changing the source.
#[component]
pub(super) fn SourceTab(view: BootRecipeView) -> impl IntoView {
    let change = ServerAction::<ChangeBootImageSource>::new();
    follow_job(change);
    let image_id = view.image_id;
    let versions = Resource::new(|| (), move |_| boot_image_source_version(image_id));
    let source = match view.source_index {
        Some(i) => format!("{} (index {i})", view.source_path),
        None => view.source_path.clone(),
    };
    view! {
        <section class="panel" aria-label="Data source">
            <h2>"Data source"</h2>
            <dl class="facts">
                <dt>"Image path"</dt><dd>{source}</dd>
                <dt>"Base"</dt><dd class="long">{view.base_path.clone()}</dd>
            </dl>
            <Transition fallback=|| view! { <p class="muted">"Reading the source…"</p> }>
                {move || Suspend::new(async move {
                    match versions.await {
                        Ok(v) => {
                            let newer = v.in_source.as_ref().is_some_and(|s| *s != v.in_image);
                            view! {
                                <div class="table-scroll">
                                    <table class="list" aria-label="Windows PE versions">
                                        <thead><tr><th>"Windows PE in the image"</th><th>"Windows PE in the source now"</th></tr></thead>
                                        <tbody><tr>
                                            <td data-label="In the image">{v.in_image.clone()}</td>
                                            <td class="long" data-label="In the source">{v.in_source.clone().unwrap_or_else(|| v.unreadable.clone().unwrap_or_default())}</td>
                                        </tr></tbody>
                                    </table>
                                </div>
                                {newer.then(|| view! { <p class="warning" role="status">"The source has another Windows PE version: reload to build from it."</p> })}
                            }.into_any()
                        }
                        Err(error) => view! { <ErrorBanner error /> }.into_any(),
                    }
                })}
            </Transition>
            {view.may_modify.then(|| view! {
                <ActionForm action=change attr:class="grid">
                    <input type="hidden" name="image_id" value=image_id />
                    <label>"New image path" <input name="path" required placeholder="\\\\deploy01\\sources\\winpe\\boot.wim" /></label>
                    <label>"Index" <input name="index" type="number" min="1" value="1" required /></label>
                    <button type="submit" class="secondary">"Change data source and build"</button>
                </ActionForm>
            })}
            {action_error(change.value())}
            {view.may_read_schedules.then(|| view! { <RebuildSchedules image_id may_schedule=view.may_schedule /> })}
        </section>
    }
}

/// The schedules that rebuild the image from its source, and a form for a new one.
#[component]
fn RebuildSchedules(image_id: i64, may_schedule: bool) -> impl IntoView {
    let add = ServerAction::<ScheduleBootImageRebuild>::new();
    let schedules = Resource::new(
        move || add.version().get(),
        move |_| boot_image_schedules(image_id),
    );
    view! {
        <h3>"Rebuild on a schedule"</h3>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match schedules.await {
                    Ok(list) if list.is_empty() => view! { <p class="muted">"No schedule rebuilds this image."</p> }.into_any(),
                    Ok(list) => view! {
                        <ul class="plain" aria-label="Rebuild schedules">
                            {list.into_iter().map(|s| view! {
                                <li>
                                    <a href="/jobs/schedules">{s.name}</a>
                                    {format!(": {}{}", s.when, if s.enabled { String::new() } else { " (disabled)".into() })}
                                    {s.next_run_at_ms.map(|at| view! { " " <span class="muted">{format!("next {}", format::utc(at))}</span> })}
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
        {may_schedule.then(|| view! {
            <ActionForm action=add attr:class="row">
                <input type="hidden" name="image_id" value=image_id />
                <label>"Repeat"
                    <select name="spec_kind">
                        <option value="interval" selected>"every (like 1d, 12h)"</option>
                        <option value="cron">"cron pattern (UTC)"</option>
                    </select>
                </label>
                <label>"When" <input name="spec" required value="7d" /></label>
                <button type="submit" class="secondary">"Schedule rebuilds"</button>
            </ActionForm>
            <p class="muted">"Each run reloads the source and builds with the recipe; nothing changes when the source has not."</p>
        })}
        {action_error(add.value())}
    }
}

/// Reload, on the Images tab: the source read again and built from.
#[component]
pub(super) fn ReloadForm(view: BootRecipeView) -> impl IntoView {
    let reload_action = ServerAction::<ReloadBootImage>::new();
    follow_job(reload_action);
    view.may_modify.then(|| {
        view! {
            <section class="panel" aria-label="Reload">
                <h2>"Reload"</h2>
                <ActionForm action=reload_action attr:class="row">
                    <input type="hidden" name="image_id" value=view.image_id />
                    <button type="submit" class="secondary">"Reload"</button>
                    <span class="muted">"Reads the source again (after another tool changed it) and builds from it with this recipe; the new revision's diff shows what changed."</span>
                </ActionForm>
                {action_error(reload_action.value())}
            </section>
        }
    })
}

/// The Revisions tab: every build, a diff of any two, rollback.
#[component]
pub(super) fn RevisionsTab(view: BootRecipeView, reload: RwSignal<u32>) -> impl IntoView {
    let diff = ServerAction::<BootImageDiff>::new();
    let rollback = ServerAction::<RollbackBootImage>::new();
    Effect::new(move |_| {
        if let Some(Ok(_)) = rollback.value().get() {
            reload.update(|n| *n += 1);
        }
    });
    let image_id = view.image_id;
    let numbers: Vec<i32> = view.revisions.iter().map(|r| r.number).collect();
    let newest = numbers.first().copied().unwrap_or(1);
    let previous = numbers.get(1).copied().unwrap_or(newest);
    let options = move |selected: i32| {
        numbers
            .iter()
            .map(|n| view! { <option value=*n selected=*n == selected>{format!("Revision {n}")}</option> })
            .collect_view()
    };
    let may_modify = view.may_modify;
    view! {
        <section class="panel" aria-label="Revisions">
            <h2>"Revisions"</h2>
            <div class="table-scroll">
                <table class="list" aria-label="Revisions">
                    <thead><tr><th>"Revision"</th><th>"When"</th><th>"Who"</th><th>"Why"</th><th>"Drivers"</th><th>"File"</th><th></th></tr></thead>
                    <tbody>
                        {view.revisions.iter().map(|r| {
                            let number = r.number;
                            let file = if r.has_file { format::bytes(r.size_bytes) } else { "removed".to_owned() };
                            view! {
                                <tr data-revision=number>
                                    <td data-label="Revision">{number}{r.current.then(|| view! { " " <span class="badge">"current"</span> })}</td>
                                    <td class="when" data-label="When">{format::utc(r.created_at_ms)}</td>
                                    <td data-label="Who">{r.created_by.clone()}</td>
                                    <td class="long" data-label="Why">{r.reason.clone()}</td>
                                    <td data-label="Drivers">{r.drivers}</td>
                                    <td data-label="File"><span title=r.sha256.clone()>{file}</span></td>
                                    <td data-label="">
                                        {(may_modify && !r.current && r.has_file).then(|| view! {
                                            <ActionForm action=rollback attr:class="inline">
                                                <input type="hidden" name="image_id" value=image_id />
                                                <input type="hidden" name="revision" value=number />
                                                <button type="submit" class="secondary">{format!("Roll back to {number}")}</button>
                                            </ActionForm>
                                        })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            {action_error(rollback.value())}
            <h3>"Compare"</h3>
            <ActionForm action=diff attr:class="row">
                <input type="hidden" name="image_id" value=image_id />
                <label>"From" <select name="from">{options(previous)}</select></label>
                <label>"To" <select name="to">{options.clone()(newest)}</select></label>
                <button type="submit" class="secondary">"Compare"</button>
            </ActionForm>
            {action_error(diff.value())}
            {move || diff.value().get().and_then(Result::ok).map(|d| view! { <Diff diff=d /> })}
        </section>
    }
}

#[component]
fn Diff(diff: DiffView) -> impl IntoView {
    let (added, removed, changed) = diff.counts;
    let shown = diff.files.len();
    let total = added + removed + changed;
    view! {
        <div class="diff" aria-label="Differences" role="region">
            <h4>{format!("Revision {} → revision {}", diff.from, diff.to)}</h4>
            {if diff.recipe.is_empty() {
                view! { <p class="muted">"Same base and recipe."</p> }.into_any()
            } else {
                view! { <ul class="plain">{diff.recipe.iter().map(|c| view! { <li>{c.clone()}</li> }).collect_view()}</ul> }.into_any()
            }}
            {diff.files_unavailable.clone().map(|why| view! { <p class="muted">{why}</p> })}
            {diff.files_unavailable.is_none().then(|| view! {
                <p>{format!("Files: {added} added, {removed} removed, {changed} changed.")}
                    {(shown < total).then(|| format!(" The first {shown} are listed."))}</p>
                <div class="table-scroll">
                    <table class="list" aria-label="Changed files">
                        <thead><tr><th>"File"</th><th>"Change"</th><th>"Before"</th><th>"After"</th></tr></thead>
                        <tbody>
                            {diff.files.iter().map(|f| view! {
                                <tr data-delta=f.delta.clone()>
                                    <td class="long" data-label="File">{f.path.clone()}</td>
                                    <td data-label="Change">{f.delta.clone()}</td>
                                    <td data-label="Before">{f.before.map(format::bytes).unwrap_or_default()}</td>
                                    <td data-label="After">{f.after.map(format::bytes).unwrap_or_default()}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            })}
        </div>
    }
}

/// Create capture image / Create discover image, as WDS offers them on a boot image.
#[component]
pub(super) fn ShellImageForms(view: BootRecipeView) -> impl IntoView {
    let create = ServerAction::<CreateShellImage>::new();
    follow_job(create);
    let image_id = view.image_id;
    let base = view.name.clone();
    view! {
        <section class="panel" aria-label="Capture and discover images">
            <h2>"Capture and discover images"</h2>
            {(!view.customizable).then(|| view! { <p class="muted">{view.not_customizable.clone().unwrap_or_default()}</p> })}
            {(view.customizable && !view.has_wdscapture).then(|| view! { <p class="muted">"This image has no Windows\\System32\\wdscapture.exe: it cannot become a capture image."</p> })}
            {(view.customizable && !view.has_setup).then(|| view! { <p class="muted">"This image has no sources\\setup.exe: it cannot become a discover image."</p> })}
            {(view.customizable && view.has_wdscapture).then(|| view! {
                <ActionForm action=create attr:class="grid">
                    <input type="hidden" name="image_id" value=image_id />
                    <input type="hidden" name="shell" value="capture" />
                    <label>"Name" <input name="name" required maxlength="128" value=format!("Capture - {base}") /></label>
                    <label>"Description" <input name="description" maxlength="2000" value="Captures a prepared computer's image" /></label>
                    <button type="submit" class="secondary">"Create capture image"</button>
                </ActionForm>
            })}
            {(view.customizable && view.has_setup).then(|| view! {
                <ActionForm action=create attr:class="grid">
                    <input type="hidden" name="image_id" value=image_id />
                    <input type="hidden" name="shell" value="discover" />
                    <label>"Name" <input name="name" required maxlength="128" value=format!("Discover - {}", view.name) /></label>
                    <label>"Description" <input name="description" maxlength="2000" value="Finds a deployment server without PXE" /></label>
                    <label>"Server to find (empty: any that answers)" <input name="server" maxlength="253" placeholder="deploy01.corp.example" /></label>
                    <button type="submit" class="secondary">"Create discover image"</button>
                </ActionForm>
            })}
            {action_error(create.value())}
        </section>
    }
}
