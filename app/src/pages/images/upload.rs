//! Uploading WIM files from the admin's computer, for the Add wizard. Each file is announced,
//! then sent in chunks straight from the browser's file (nothing is read into memory whole);
//! the server says how much it holds after every chunk, so a dropped connection or a reload
//! resumes from there — choosing the same file again continues its unfinished upload.

use leptos::{prelude::*, task::spawn_local};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::{
    AppError,
    api::uploads::{
        DiscardUpload, UploadView, begin_upload, chunk_url, list_uploads, upload_status,
    },
    components::error::action_error,
    format,
};

/// Bytes per request: large enough to keep the line busy, small enough to lose little when a
/// connection drops.
const CHUNK_BYTES: u64 = 8 << 20;
/// Failed requests in a row before giving up (the admin can resume later).
const ATTEMPTS: u32 = 5;

/// One file being sent, as the page shows it.
#[derive(Debug, Clone, PartialEq)]
struct Transfer {
    name: String,
    size: u64,
    received: u64,
    started_ms: f64,
    /// Bytes the server already had when this session started (a resumed upload).
    resumed_from: u64,
    sha256: Option<String>,
    error: Option<String>,
}

impl Transfer {
    fn rate(&self) -> String {
        let seconds = (js_sys::Date::now() - self.started_ms) / 1000.0;
        let sent = self.received.saturating_sub(self.resumed_from);
        if seconds < 0.5 || sent == 0 {
            return String::new();
        }
        format!("{}/s", format::bytes((sent as f64 / seconds) as u64))
    }
}

/// The upload panel: choose files, watch them go, then `on_uploaded` gets the path to import
/// (the first part of a split WIM, when its parts were sent together).
#[component]
pub(crate) fn Uploader(
    on_uploaded: Callback<String>,
    /// The file chooser's label.
    #[prop(default = "WIM file(s) from this computer")]
    label: &'static str,
    /// File types offered by the chooser.
    #[prop(default = ".wim,.swm,.esd")]
    accept: &'static str,
    /// What to choose.
    #[prop(default = "For a split WIM choose all its .swm parts.")]
    hint: &'static str,
) -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    let transfers = RwSignal::new(Vec::<Transfer>::new());
    let busy = RwSignal::new(false);
    let discard = ServerAction::<DiscardUpload>::new();
    let uploads = Resource::new(
        move || (busy.get(), discard.version().get()),
        |_| list_uploads(),
    );
    let start = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(files) = input.get().and_then(|el| el.files()) else {
            return;
        };
        let files: Vec<web_sys::File> = (0..files.length()).filter_map(|i| files.get(i)).collect();
        if files.is_empty() || busy.get_untracked() {
            return;
        }
        transfers.set(
            files
                .iter()
                .map(|f| Transfer {
                    name: f.name(),
                    size: f.size() as u64,
                    received: 0,
                    started_ms: js_sys::Date::now(),
                    resumed_from: 0,
                    sha256: None,
                    error: None,
                })
                .collect(),
        );
        busy.set(true);
        spawn_local(async move {
            let mut paths = Vec::new();
            for (i, file) in files.iter().enumerate() {
                let shown = move |received: u64, first: bool| {
                    transfers.update(|t| {
                        if first {
                            t[i].resumed_from = received;
                            t[i].started_ms = js_sys::Date::now();
                        }
                        t[i].received = received;
                    })
                };
                match send_file(file, shown).await {
                    Ok(done) => {
                        transfers.update(|t| t[i].sha256 = done.sha256.clone());
                        paths.push((done.file_name.clone(), done.source));
                    }
                    Err(e) => {
                        transfers.update(|t| t[i].error = Some(e));
                        busy.set(false);
                        return;
                    }
                }
            }
            busy.set(false);
            // `install.swm` before `install2.swm`: the shortest name is the first part.
            paths.sort_by_key(|(name, _)| (name.len(), name.clone()));
            if let Some((_, first)) = paths.into_iter().next() {
                on_uploaded.run(first);
            }
        });
    };
    view! {
        <form class="row" on:submit=start aria-label="Upload">
            <label>{label}
                <input type="file" name="files" multiple accept=accept node_ref=input required />
            </label>
            <button type="submit" class="secondary" disabled=move || busy.get()>"Upload"</button>
        </form>
        <p class="muted">{hint}" An interrupted upload resumes when you choose the same file again."</p>
        <ul class="transfers" aria-label="Transfers">
            {move || transfers.get().into_iter().map(|t| {
                let percent = (t.received * 100).checked_div(t.size).unwrap_or(100);
                let state = match (&t.error, &t.sha256) {
                    (Some(e), _) => e.clone(),
                    (None, Some(sha)) => format!("uploaded, SHA-256 {sha}"),
                    (None, None) => format!("{} of {} ({percent} %) {}", format::bytes(t.received), format::bytes(t.size), t.rate()),
                };
                view! {
                    <li class:error=t.error.is_some()>
                        <strong>{t.name.clone()}</strong>
                        <progress max=t.size.to_string() value=t.received.to_string()>{format!("{percent} %")}</progress>
                        <span class="muted">{state}</span>
                    </li>
                }
            }).collect_view()}
        </ul>
        {action_error(discard.value())}
        <Transition fallback=|| ()>
            {move || uploads.get().and_then(Result::ok).filter(|u| !u.is_empty()).map(|list| view! {
                <div class="table-scroll">
                    <table class="list" aria-label="Your uploads">
                        <thead><tr><th>"Your uploads"</th><th>"Size"</th><th>"State"</th><th></th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|u| {
                                let complete = u.sha256.is_some();
                                let path = u.source.clone();
                                let state = if complete {
                                    "complete".to_owned()
                                } else {
                                    format!("{} received; choose the file again to resume", format::bytes(u.received_bytes))
                                };
                                view! {
                                    <tr>
                                        <td data-label="File">{u.file_name.clone()}</td>
                                        <td data-label="Size">{format::bytes(u.size_bytes)}</td>
                                        <td data-label="State">{state}</td>
                                        <td class="actions">
                                            <Show when=move || complete>
                                                {
                                                    let path = path.clone();
                                                    view! { <button type="button" class="secondary" on:click=move |_| on_uploaded.run(path.clone())>"Use"</button> }
                                                }
                                            </Show>
                                            <ActionForm action=discard attr:class="inline">
                                                <input type="hidden" name="id" value=u.id.clone() />
                                                <button type="submit" class="secondary">"Discard"</button>
                                            </ActionForm>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            })}
        </Transition>
    }
}

/// Sends one file, resuming an unfinished upload of it; `shown(received, first)` reports
/// progress. Returns the complete upload.
async fn send_file(file: &web_sys::File, shown: impl Fn(u64, bool)) -> Result<UploadView, String> {
    let size = file.size() as u64;
    let mut upload = begin_upload(file.name(), size)
        .await
        .map_err(|e| e.to_string())?;
    shown(upload.received_bytes, true);
    let mut failures = 0;
    while upload.sha256.is_none() {
        let offset = upload.received_bytes;
        let end = (offset + CHUNK_BYTES).min(size);
        match put_chunk(&upload.id, file, offset, end).await {
            Ok(view) => {
                upload = view;
                failures = 0;
            }
            Err(Sent::Refused(AppError::Conflict(_))) | Err(Sent::Lost(_))
                if failures < ATTEMPTS =>
            {
                // Ask where the server is and go on from there.
                failures += 1;
                pause_ms(500 * failures).await;
                if let Ok(current) = upload_status(upload.id.clone()).await {
                    upload = current;
                }
            }
            Err(Sent::Refused(e)) => return Err(e.to_string()),
            Err(Sent::Lost(e)) => {
                return Err(format!(
                    "the upload stopped ({e}); choose the file again to resume it"
                ));
            }
        }
        shown(upload.received_bytes, false);
    }
    Ok(upload)
}

/// Why a chunk did not arrive.
enum Sent {
    /// The server answered with an error.
    Refused(AppError),
    /// No answer (the network, the server restarting).
    Lost(String),
}

async fn put_chunk(
    id: &str,
    file: &web_sys::File,
    offset: u64,
    end: u64,
) -> Result<UploadView, Sent> {
    let lost =
        |e: wasm_bindgen::JsValue| Sent::Lost(e.as_string().unwrap_or_else(|| format!("{e:?}")));
    let blob = file
        .slice_with_f64_and_f64(offset as f64, end as f64)
        .map_err(lost)?;
    let init = web_sys::RequestInit::new();
    init.set_method("PUT");
    init.set_body(&blob);
    let window = web_sys::window().ok_or_else(|| Sent::Lost("no window".into()))?;
    let url = format!("{}?offset={offset}", chunk_url(id));
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(&url, &init))
        .await
        .map_err(lost)?
        .dyn_into()
        .map_err(lost)?;
    let text = JsFuture::from(response.text().map_err(lost)?)
        .await
        .map_err(lost)?
        .as_string()
        .unwrap_or_default();
    if response.ok() {
        serde_json::from_str(&text).map_err(|e| Sent::Lost(e.to_string()))
    } else {
        Err(Sent::Refused(serde_json::from_str(&text).unwrap_or_else(
            |_| AppError::Transport(format!("HTTP {}", response.status())),
        )))
    }
}

async fn pause_ms(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                &resolve,
                i32::try_from(ms).unwrap_or(i32::MAX),
            );
        }
    });
    let _ = JsFuture::from(promise).await;
}
