//! The Security panel of an image or driver package: its scopes (changed with Set security
//! scope) and what each user may do to it.

use leptos::prelude::*;

use super::ScopePicker;
use crate::{
    api::security::{ObjectSecurityView, SetObjectScopes, object_security},
    components::error::{ErrorBanner, action_error},
};

#[component]
pub fn SecurityPanel(object_type: &'static str, id: i64) -> impl IntoView {
    let set = ServerAction::<SetObjectScopes>::new();
    let view = Resource::new(
        move || set.version().get(),
        move |_| object_security(object_type.to_owned(), id),
    );
    view! {
        <section class="panel" id="security" aria-label="Security">
            <h2>"Security"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match view.await {
                        Ok(v) => view! { <Rights view=v object_type id set /> }.into_any(),
                        Err(error) => view! { <ErrorBanner error /> }.into_any(),
                    }
                })}
            </Transition>
            {action_error(set.value())}
        </section>
    }
}

#[component]
fn Rights(
    view: ObjectSecurityView,
    object_type: &'static str,
    id: i64,
    set: ServerAction<SetObjectScopes>,
) -> impl IntoView {
    let names: Vec<String> = view.scopes.iter().map(|(_, n)| n.clone()).collect();
    let chosen: Vec<i64> = view.scopes.iter().map(|(id, _)| *id).collect();
    let editor = view.may_set_scopes.then(|| view! {
        <ActionForm action=set attr:class="grid">
            <input type="hidden" name="object_type" value=object_type />
            <input type="hidden" name="id" value=id />
            <ScopePicker scopes=view.all_scopes.clone() chosen legend="Move to security scopes" />
            <button type="submit" class="secondary">"Set security scopes"</button>
        </ActionForm>
    });
    view! {
        <dl class="facts">
            <dt>"Security scopes"</dt><dd data-scopes="">{names.join(", ")}</dd>
        </dl>
        {editor}
        <div class="table-scroll">
            <table class="list" aria-label="Effective rights">
                <thead><tr><th>"User"</th><th>"May"</th></tr></thead>
                <tbody>
                    {view.users.into_iter().map(|(user, ops)| {
                        let key = user.clone();
                        view! {
                            <tr data-user=key>
                                <td data-label="User">{user}</td>
                                <td data-label="May">{ops.join(", ")}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
