//! The audit log: filter, page back, export what the filter shows as CSV or JSON.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::Form, hooks::use_query_map};

use super::SecurityNav;
use crate::{
    api::security::{AuditView, search_audit},
    components::error::ErrorBanner,
    format,
    pages::drivers::choice,
};

const FILTERS: [&str; 7] = [
    "user",
    "operation",
    "object_type",
    "outcome",
    "text",
    "from",
    "to",
];

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).filter(|v| !v.is_empty());
    let list = Resource::new(
        move || {
            (
                FILTERS.map(param),
                param("before").and_then(|b| b.parse::<i64>().ok()),
            )
        },
        |([user, operation, object_type, outcome, text, from, to], before)| {
            search_audit(
                user,
                operation,
                object_type,
                outcome,
                text,
                from,
                to,
                before,
            )
        },
    );
    // The filters as a query string, for the export links and "Older".
    let filters = move || {
        FILTERS
            .iter()
            .filter_map(|name| param(name).map(|v| format!("{name}={}", encode(&v))))
            .collect::<Vec<_>>()
            .join("&")
    };
    view! {
        <Title text="Audit log" />
        <div class="page-head"><h1>"Audit log"</h1></div>
        <SecurityNav />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(view) => view! { <Entries view param filters=filters() /> }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
fn Entries(
    view: AuditView,
    param: impl Fn(&str) -> Option<String> + Copy + Send + Sync + 'static,
    filters: String,
) -> impl IntoView {
    let current = move |name: &str| param(name).unwrap_or_default();
    let joiner = if filters.is_empty() { "" } else { "&" };
    let older = view.more.then(|| {
        view.rows.last().map(|last| {
            view! { <a href=format!("/security/audit?{filters}{joiner}before={}", last.id)>"Older entries"</a> }
        })
    });
    view! {
        <Form method="GET" action="/security/audit" attr:class="filters">
            <label>"User" <input name="user" value=current("user") /></label>
            {choice("Operation", "operation", current("operation"), view.operations.clone())}
            {choice("Object type", "object_type", current("object_type"), view.object_types.clone())}
            {choice("Result", "outcome", current("outcome"), vec![("allowed".into(), "Allowed".into()), ("denied".into(), "Denied".into())])}
            <label>"Object or detail contains" <input type="search" name="text" value=current("text") /></label>
            <label>"From (UTC)" <input type="date" name="from" value=current("from") /></label>
            <label>"To (UTC)" <input type="date" name="to" value=current("to") /></label>
            <button type="submit" class="secondary">"Filter"</button>
        </Form>
        <p>
            "Export what this filter shows: "
            <a href=format!("/api/export_audit?format=csv{joiner}{filters}") download="wimdeck-audit.csv">"CSV"</a>
            " · "
            <a href=format!("/api/export_audit?format=json{joiner}{filters}") download="wimdeck-audit.json">"JSON"</a>
            <span class="muted">" — each entry carries the hash that chains it to the one before; "<code>"wimdeck audit verify"</code>" checks the chain."</span>
        </p>
        {view.rows.is_empty().then(|| view! { <p class="muted">"No entry matches."</p> })}
        <div class="table-scroll">
            <table class="list" aria-label="Audit log">
                <thead><tr>
                    <th>"Time (UTC)"</th><th>"User"</th><th>"Operation"</th><th>"Object"</th>
                    <th>"Result"</th><th>"Changes"</th><th>"From"</th>
                </tr></thead>
                <tbody>
                    {view.rows.into_iter().map(|r| {
                        let badge = if r.outcome == "denied" { "badge unsigned" } else { "badge" };
                        let outcome = r.outcome.clone();
                        view! {
                        <tr data-outcome=outcome>
                            <td class="when" data-label="Time (UTC)">{format::utc(r.at_ms)}</td>
                            <td data-label="User">{r.username}</td>
                            <td data-label="Operation">{r.operation}</td>
                            <td class="long" data-label="Object"><span>{r.object_type}": "{r.object}</span></td>
                            <td data-label="Result">
                                <span>
                                    <span class=badge>{r.outcome}</span>
                                    {(!r.detail.is_empty()).then(|| view! { " " <span class="muted">{r.detail}</span> })}
                                </span>
                            </td>
                            <td class="long" data-label="Changes"><ul class="plain">{r.changes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}</ul></td>
                            <td data-label="From">{r.source_addr}</td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
        </div>
        {older}
    }
}
