//! The caller's account: their roles and their API tokens.

use leptos::prelude::*;
use leptos_meta::Title;

use super::confirmed_feedback;
use crate::{
    api::security::{AccountView, CreateApiToken, RevokeApiToken, my_account},
    components::error::{ErrorBanner, action_error},
    format,
};

#[component]
pub fn AccountPage() -> impl IntoView {
    let create = ServerAction::<CreateApiToken>::new();
    let revoke = ServerAction::<RevokeApiToken>::new();
    let account = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| my_account(),
    );
    view! {
        <Title text="My account" />
        <div class="page-head"><h1>"My account"</h1></div>
        {move || create.value().get().and_then(Result::ok).map(|made| view! {
            <section class="panel new-token" role="status" aria-label="New API token">
                <h2>{format!("API token \"{}\"", made.name)}</h2>
                <p>"Copy it now: it is not shown again. Send it as "<code>"Authorization: Bearer …"</code>" to the server functions under "<code>"/api/"</code>"."</p>
                <pre class="hash" data-token-secret="">{made.secret}</pre>
                <p class="muted">{format!("Valid until {}.", format::utc(made.expires_at_ms))}</p>
            </section>
        })}
        {confirmed_feedback(create)}
        {action_error(revoke.value())}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match account.await {
                    Ok(view) => view! { <Account view create revoke /> }.into_any(),
                    Err(error) => view! { <ErrorBanner error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Account(
    view: AccountView,
    create: ServerAction<CreateApiToken>,
    revoke: ServerAction<RevokeApiToken>,
) -> impl IntoView {
    view! {
        <section class="panel" aria-label="Roles">
            <h2>{format!("Signed in as {}", view.username)}</h2>
            <p>{format!("Roles: {}", view.roles.join(", "))}</p>
        </section>
        <section class="panel" aria-label="API tokens">
            <h2>"API tokens"</h2>
            <p class="muted">"A token acts for you in scripts, with your rights or only those of one of your roles. It cannot change users, roles or tokens."</p>
            <div class="table-scroll">
                <table class="list" aria-label="Your API tokens">
                    <thead><tr><th>"Name"</th><th>"Starts with"</th><th>"Rights"</th><th>"Expires"</th><th>"Last used"</th><th>"State"</th><th><span class="visually-hidden">"Action"</span></th></tr></thead>
                    <tbody>
                        {view.tokens.into_iter().map(|t| view! {
                            <tr data-token=t.name.clone()>
                                <td data-label="Name">{t.name.clone()}</td>
                                <td data-label="Starts with" class="hash">{t.prefix}"…"</td>
                                <td data-label="Rights">{t.limited_to.map_or_else(|| "All of yours".to_owned(), |r| format!("Only {r}"))}</td>
                                <td class="when" data-label="Expires">{format::utc(t.expires_at_ms)}</td>
                                <td data-label="Last used">{t.last_used.unwrap_or_else(|| "never".into())}</td>
                                <td data-label="State">{t.state.clone()}</td>
                                <td data-label="">
                                    {(t.state == "active").then(|| view! {
                                        <ActionForm action=revoke attr:class="inline">
                                            <input type="hidden" name="id" value=t.id />
                                            <button type="submit" class="secondary">"Revoke"</button>
                                        </ActionForm>
                                    })}
                                </td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <ActionForm action=create attr:class="grid">
                <label>"Name" <input name="name" required maxlength="64" placeholder="nightly import" /></label>
                <label>"Valid for (days)" <input type="number" name="valid_days" required min="1" max=view.max_valid_days value="30" /></label>
                <label>"Rights"
                    <select name="limit_to_role">
                        <option value="">"All of mine"</option>
                        {view.limits.into_iter().map(|(id, name)| view! { <option value=id>{format!("Only {name}")}</option> }).collect_view()}
                    </select>
                </label>
                <button type="submit">"Create token"</button>
            </ActionForm>
        </section>
    }
}
