//! The Distribute form of a content's panel. With hundreds of DPs a DP is found by typing a
//! part of its name, not picked from hundreds of boxes: the form lists the first few that match
//! and keeps what was chosen while the words change. Its state lives in the panel, so the
//! panel's refreshes (every few seconds while transfers run) keep what the admin chose.

use std::time::Duration;

use leptos::prelude::*;

use crate::{
    api::distribution::{DistributeContent, DistributionTargets, TargetsView},
    components::error::action_error,
};

/// What the Distribute form holds across the panel's refreshes.
#[derive(Clone, Copy)]
pub(super) struct Picker {
    pub distribute: ServerAction<DistributeContent>,
    find: ServerAction<DistributionTargets>,
    object_type: StoredValue<String>,
    id: i64,
    q: RwSignal<String>,
    /// How many DPs had the content when the form last asked (they are not offered).
    asked_at: StoredValue<Option<u32>>,
    /// The number of the latest question: only its answer is shown.
    asked: StoredValue<u64>,
    /// The answer to the words typed last (an older answer arriving late is dropped).
    found: RwSignal<Option<TargetsView>>,
    dps: RwSignal<Vec<(i64, String)>>,
    groups: RwSignal<Vec<(i64, String)>>,
}

impl Picker {
    pub fn new(object_type: String, id: i64) -> Self {
        let picker = Self {
            distribute: ServerAction::new(),
            find: ServerAction::new(),
            object_type: StoredValue::new(object_type),
            id,
            q: RwSignal::new(String::new()),
            asked_at: StoredValue::new(None),
            asked: StoredValue::new(0),
            found: RwSignal::new(None),
            dps: RwSignal::new(Vec::new()),
            groups: RwSignal::new(Vec::new()),
        };
        Effect::new(move |_| {
            if let Some(Ok(answer)) = picker.find.value().get()
                && answer.ask == picker.asked.get_value()
            {
                picker.found.set(Some(answer));
            }
        });
        picker
    }

    fn search(self) {
        self.asked.update_value(|n| *n += 1);
        self.find.dispatch(DistributionTargets {
            object_type: self.object_type.get_value(),
            object_id: self.id,
            q: Some(self.q.get_untracked()),
            ask: Some(self.asked.get_value()),
        });
    }

    /// Asks once typing pauses, not at every key.
    fn search_soon(self) {
        let typed = self.q.get_untracked();
        set_timeout(
            move || {
                if self.q.try_get_untracked().is_some_and(|q| q == typed) {
                    self.search();
                }
            },
            TYPING_PAUSE,
        );
    }

    /// After a distribution: nothing chosen, and the DPs it went to no longer offered (they
    /// are read again once its job has made their assignments).
    pub fn distributed(self) {
        let sent: Vec<i64> = self
            .dps
            .with_untracked(|c| c.iter().map(|(id, _)| *id).collect());
        self.found.update(|found| {
            if let Some(found) = found {
                found.dps.retain(|(id, _)| !sent.contains(id));
            }
        });
        self.dps.set(Vec::new());
        self.groups.set(Vec::new());
    }
}

fn joined(chosen: &[(i64, String)]) -> String {
    chosen
        .iter()
        .map(|(id, _)| id.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// How long typing must pause before the form asks.
const TYPING_PAUSE: Duration = Duration::from_millis(250);

/// Boxes for what matched, ticked when chosen; what is chosen stays chosen when the words
/// change and it no longer matches.
fn boxes(items: Vec<(i64, String)>, chosen: RwSignal<Vec<(i64, String)>>) -> impl IntoView {
    items
        .into_iter()
        .map(|(id, name)| {
            let label = name.clone();
            view! {
                <label class="check">
                    <input type="checkbox"
                        prop:checked=move || chosen.with(|c| c.iter().any(|(x, _)| *x == id))
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            chosen.update(|c| {
                                c.retain(|(x, _)| *x != id);
                                if on { c.push((id, name.clone())); }
                            });
                        } />
                    {label}
                </label>
            }
        })
        .collect_view()
}

fn more(count: u32, noun: &str) -> Option<String> {
    (count > 0).then(|| format!("and {count} more {noun}: type more of a name to find them"))
}

/// The chosen DPs and groups, each with a button that drops it.
fn chosen_list(picker: Picker) -> impl IntoView {
    let item = move |chosen: RwSignal<Vec<(i64, String)>>| {
        move || {
            chosen
                .get()
                .into_iter()
                .map(|(id, name)| {
                    let drop = format!("Do not send to {name}");
                    view! {
                        <li>{name}" "
                            <button type="button" class="secondary small" aria-label=drop
                                on:click=move |_| chosen.update(|c| c.retain(|(x, _)| *x != id))>"×"</button>
                        </li>
                    }
                })
                .collect_view()
        }
    };
    view! {
        <Show when=move || !picker.dps.with(Vec::is_empty) || !picker.groups.with(Vec::is_empty)>
            <div aria-label="Chosen" role="group">
                <p class="muted">"Chosen:"</p>
                <ul class="chosen">{item(picker.dps)}{item(picker.groups)}</ul>
            </div>
        </Show>
    }
}

/// The form, drawn again at each refresh of the panel; `holders` is how many DPs have the
/// content now.
#[component]
pub(super) fn DistributeForm(picker: Picker, holders: u32) -> impl IntoView {
    // In the browser only, once the page is interactive; again when DPs got the content.
    Effect::new(move |_| {
        if picker.asked_at.get_value() != Some(holders) {
            picker.asked_at.set_value(Some(holders));
            picker.search();
        }
    });
    let found = move || picker.found.get();
    view! {
        <ActionForm action=picker.distribute attr:class="grid" attr:aria-label="Distribute content">
            <input type="hidden" name="object_type" value=picker.object_type.get_value() />
            <input type="hidden" name="object_id" value=picker.id />
            <input type="hidden" name="dps" prop:value=move || picker.dps.with(|c| joined(c)) />
            <input type="hidden" name="groups" prop:value=move || picker.groups.with(|c| joined(c)) />
            <label>"Find distribution points and groups"
                <input type="search" placeholder="Name or description" autocomplete="off"
                    prop:value=move || picker.q.get()
                    on:input=move |ev| { picker.q.set(event_target_value(&ev)); picker.search_soon(); } />
            </label>
            <fieldset>
                <legend>"Distribution points"</legend>
                {move || match found() {
                    None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                    Some(f) => {
                        let none = (f.dps.is_empty() && f.more_dps == 0).then(|| if f.q.trim().is_empty() {
                            "There is no distribution point you may send it to."
                        } else {
                            "No distribution point you may send it to matches."
                        });
                        let holding = match f.holding {
                            0 => None,
                            1 => Some("1 distribution point that has it already is not listed: use Redistribute on its row.".to_owned()),
                            n => Some(format!("{n} distribution points that have it already are not listed: use Redistribute on their rows.")),
                        };
                        view! {
                            {boxes(f.dps, picker.dps)}
                            {none.map(|t| view! { <p class="muted">{t}</p> })}
                            {more(f.more_dps, "distribution points").map(|t| view! { <p class="muted">{t}</p> })}
                            {holding.map(|t| view! { <p class="muted">{t}</p> })}
                        }.into_any()
                    }
                }}
            </fieldset>
            {move || found().filter(|f| !f.groups.is_empty() || f.more_groups > 0).map(|f| view! {
                <fieldset>
                    <legend>"Groups"</legend>
                    {boxes(f.groups, picker.groups)}
                    {more(f.more_groups, "groups").map(|t| view! { <p class="muted">{t}</p> })}
                </fieldset>
            })}
            {chosen_list(picker)}
            <button type="submit">"Distribute content"</button>
        </ActionForm>
        {action_error(picker.find.value())}
        {action_error(picker.distribute.value())}
    }
}
