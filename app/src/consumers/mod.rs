//! Consumers and the credentials they hold.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};
use rekey_core::inventory::CredentialStatus;
use rekey_core::inventory::views::{ConsumerDetail, ConsumerPage, ConsumerQuery};

use crate::components::{
    BUTTON_QUIET, Badge, CARD, FillBar, FormError, INPUT, LABEL, LoadError, Page, Pager, TABLE, TD,
    TH, Tone, query_link,
};
use crate::error::AppError;

mod import;
mod lifecycle;
pub use import::ImportPage;
pub use lifecycle::LifecyclePage;

#[cfg(feature = "ssr")]
use crate::auth::session;

pub const PAGE_SIZE: u32 = 25;

#[server(endpoint = "inventory/consumers")]
pub async fn consumers(
    // A list without filters sends no `query` fields at all.
    #[server(default)] query: ConsumerQuery,
    page: Option<u32>,
) -> Result<ConsumerPage, AppError> {
    session::authorize::<Consumers>().await?;
    let rk = session::rekey()?;
    let filter = query.parse()?;
    let page = page.unwrap_or(1).max(1);
    let (rows, total) = rekey_core::inventory::store::list_consumers(
        &rk.db,
        &filter,
        rk.now(),
        // A page number from the client can be anything: saturate instead of overflowing.
        (page - 1).saturating_mul(PAGE_SIZE),
        PAGE_SIZE,
    )
    .await?;
    Ok(ConsumerPage { rows, total, page })
}

/// Adds a tag to (or removes it from) every consumer of the current view.
#[server(endpoint = "inventory/tag")]
pub async fn tag_consumers(
    #[server(default)] query: ConsumerQuery,
    tag: String,
    remove: Option<String>,
) -> Result<u64, AppError> {
    let (identity, _) = session::authorize::<TagConsumers>().await?;
    let rk = session::rekey()?;
    let filter = query.parse()?;
    Ok(rekey_core::inventory::store::tag_consumers(
        &rk.db,
        (&identity).into(),
        rk.now(),
        &filter,
        &rekey_core::inventory::store::Tag::parse(&tag)?,
        remove.is_none(),
    )
    .await?)
}

#[server(endpoint = "inventory/consumer")]
pub async fn consumer(id: String) -> Result<ConsumerDetail, AppError> {
    use rekey_core::inventory::store;
    session::authorize::<Consumer>().await?;
    let rk = session::rekey()?;
    let consumer = store::consumer(&rk.db, id.parse()?).await?;
    Ok(ConsumerDetail {
        revocation: store::revocation_of_consumer(&mut rk.db.clone(), consumer.id).await?,
        policies: store::rotation_policies(&rk.db).await?,
        timeline: rekey_core::history::consumer(&rk.db, &consumer, 50).await?,
        consumer,
        now: rk.now(),
    })
}

/// Moves a credential along its lifecycle by hand (a leak: straight to revoked).
#[server(endpoint = "inventory/set_status")]
pub async fn set_status(credential: i64, status: String) -> Result<String, AppError> {
    let (identity, _) = session::authorize::<SetStatus>().await?;
    let rk = session::rekey()?;
    let to = status.parse()?;
    rekey_core::inventory::store::set_credential_status(
        &rk.db,
        (&identity).into(),
        rk.now(),
        rekey_core::inventory::CredentialId::new(credential)?,
        to,
    )
    .await?;
    Ok(status)
}

/// Asks to revoke a credential its consumer still uses, with the reason (a second person
/// approves; only once no campaign's grace period covers it).
#[server(endpoint = "inventory/request_override")]
pub async fn request_override(credential: i64, reason: String) -> Result<(), AppError> {
    let (identity, _) = session::authorize::<RequestOverride>().await?;
    let rk = session::rekey()?;
    rekey_core::inventory::store::request_override(
        &rk,
        &identity,
        rekey_core::inventory::CredentialId::new(credential)?,
        rekey_core::identity::Reason::parse(&reason)?,
    )
    .await?;
    Ok(())
}

/// A second person approves that override: the credential becomes safe to revoke.
#[server(endpoint = "inventory/approve_override")]
pub async fn approve_override(credential: i64) -> Result<(), AppError> {
    let (identity, _) = session::authorize::<ApproveOverride>().await?;
    let rk = session::rekey()?;
    rekey_core::inventory::store::approve_override(
        &rk,
        &identity,
        rekey_core::inventory::CredentialId::new(credential)?,
    )
    .await?;
    Ok(())
}

/// Sets when a consumer's notices may go out (`Mon-Fri 09:00-17:00`, its own time zone).
#[server(endpoint = "inventory/set_send_window")]
pub async fn set_send_window(consumer: i64, window: String) -> Result<String, AppError> {
    let (identity, _) = session::authorize::<SetSendWindow>().await?;
    let rk = session::rekey()?;
    let window = rekey_core::inventory::window::SendWindow::parse(&window)?;
    rekey_core::inventory::store::set_send_window(
        &rk.db,
        (&identity).into(),
        rk.now(),
        rekey_core::inventory::ConsumerId::new(consumer)?,
        window,
    )
    .await?;
    Ok(window.to_string())
}

/// How much of its allowed life a credential has used, as a bar.
#[component]
fn AgeBar(age_days: i64, max_age_days: Option<i64>) -> impl IntoView {
    let Some(max) = max_age_days.filter(|m| *m > 0) else {
        return view! { <div class="text-slate-400">{format!("{age_days} days old · no policy")}</div> }.into_any();
    };
    let percent = (age_days * 100 / max).clamp(0, 100);
    let colour = if age_days > max {
        "fill-rose-500"
    } else if percent >= 80 {
        "fill-amber-400"
    } else {
        "fill-emerald-500"
    };
    let text = format!("{age_days} of {max} days");
    let text_colour = if age_days > max {
        "text-rose-700"
    } else {
        "text-slate-500"
    };
    view! {
        <div class="mt-1 w-32">
            <div role="meter" aria-label="Age against the rotation policy" aria-valuemin="0" aria-valuemax=max aria-valuenow=age_days aria-valuetext=text.clone()>
                <FillBar percent fill=colour />
            </div>
            <div class=text_colour>
                {text}{(age_days > max).then_some(" · overdue")}
            </div>
        </div>
    }
    .into_any()
}

/// A `<select>` of a named enum's values with "Any" first, selected from the URL.
#[component]
fn Choice(
    name: &'static str,
    label: &'static str,
    options: Vec<(&'static str, &'static str)>,
    #[prop(into)] current: Signal<Option<String>>,
) -> impl IntoView {
    view! {
        <label class=LABEL>
            {label}
            <select class=INPUT name=name>
                <option value="">"Any"</option>
                {options.into_iter().map(|(value, text)| view! {
                    <option value=value selected=move || current.get().as_deref() == Some(value)>{text}</option>
                }).collect_view()}
            </select>
        </label>
    }
}

#[component]
pub fn ConsumersPage() -> impl IntoView {
    use rekey_core::inventory::{ConsumerSort, CredentialStatus, Environment, SdkLanguage};
    let query = use_query_map();
    let param = move |k: &str| query.with(|q| q.get(k)).filter(|v| !v.is_empty());
    let filters = move || ConsumerQuery::from_params(param);
    let tag = ServerAction::<TagConsumers>::new();
    let list = Resource::new(
        move || {
            (
                filters(),
                param("page").and_then(|p| p.parse::<u32>().ok()),
                tag.version().get(),
            )
        },
        |(query, page, _)| consumers(query, page),
    );
    let export = move || {
        let q = filters()
            .pairs()
            .into_iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        format!("/api/v1/consumers.csv?{q}")
    };
    let options = |all: &'static [(&'static str, &'static str)]| all.to_vec();
    view! {
        <Page title="Consumers">
            <div class="mb-4 flex gap-3">
                <a class=BUTTON_QUIET href="/consumers/import">"Import…"</a>
                <a class=BUTTON_QUIET href=export download="consumers.csv">"Export this view (CSV)"</a>
            </div>
            <Form method="GET" action="/consumers" attr:class="mb-6 grid grid-cols-2 items-end gap-3 md:grid-cols-5">
                <label class=format!("{LABEL} col-span-2")>"Search"<input class=INPUT type="search" name="q" value=move || param("q") placeholder="name, contact e-mail, tag" /></label>
                <Choice name="pattern" label="Integration" options=options(&PATTERNS) current=Signal::derive(move || param("pattern")) />
                <Choice name="language" label="SDK language" options=SdkLanguage::ALL.iter().map(|l| (l.as_str(), l.label())).collect() current=Signal::derive(move || param("language")) />
                <label class=LABEL>"Tag"<input class=INPUT name="tag" value=move || param("tag") /></label>
                <Choice name="environment" label="Environment" options=Environment::ALL.iter().map(|l| (l.as_str(), l.label())).collect() current=Signal::derive(move || param("environment")) />
                <Choice name="status" label="Credential status" options=CredentialStatus::ALL.iter().map(|l| (l.as_str(), l.label())).collect() current=Signal::derive(move || param("status")) />
                <label class=LABEL>"Keys older than (days)"<input class=INPUT type="number" min="0" name="older_than" value=move || param("older_than") /></label>
                <label class=LABEL>"Expiring within (days)"<input class=INPUT type="number" min="0" name="expiring_within" value=move || param("expiring_within") /></label>
                <label class=LABEL>
                    "Sort"
                    <select class=INPUT name="sort">
                        {ConsumerSort::ALL.iter().map(|s| {
                            let value = s.as_str();
                            view! { <option value=value selected=move || param("sort").as_deref() == Some(value)>{s.label()}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <button class=BUTTON_QUIET type="submit">"Search"</button>
            </Form>
            <div class=format!("{CARD} overflow-x-auto p-0")>
                <Transition fallback=|| view! { <p class="p-4">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match list.await {
                            Err(error) => view! { <div class="p-4"><LoadError error /></div> }.into_any(),
                            Ok(list) if list.rows.is_empty() => view! { <p class="p-4 text-sm text-slate-500">"No consumers match."</p> }.into_any(),
                            Ok(list) => {
                                let pages = (list.total as u32).div_ceil(PAGE_SIZE);
                                let page = list.page;
                                view! {
                                    <table class=TABLE>
                                        <thead class="bg-slate-50"><tr>
                                            <th class=TH>"Consumer"</th><th class=TH>"Integration"</th><th class=TH>"Contact"</th><th class=TH>"Time zone"</th><th class=TH>"Keys"</th><th class=TH>"Oldest key"</th><th class=TH>"Tags"</th>
                                        </tr></thead>
                                        <tbody class="divide-y divide-slate-100">
                                            {list.rows.into_iter().map(|c| view! {
                                                <tr>
                                                    <td class=TD>
                                                        <a class="font-medium text-indigo-700 hover:underline" href=format!("/consumers/{}", c.id)>{c.name}</a>
                                                        <div class="font-mono text-xs text-slate-400">{c.external_id.to_string()}</div>
                                                    </td>
                                                    <td class=TD>{c.integration.label()}</td>
                                                    <td class=format!("{TD} text-xs")>{c.contact.map(|e| e.to_string())}</td>
                                                    <td class=format!("{TD} text-xs")>{c.time_zone.to_string()}</td>
                                                    <td class=TD>
                                                        {c.credentials}
                                                        {(c.migrated > 0).then(|| view! { <span class="ml-2"><Badge text=format!("{} migrated", c.migrated) tone=Tone::Good /></span> })}
                                                    </td>
                                                    <td class=format!("{TD} text-xs")>{c.oldest_key_days.map(|d| format!("{d} days"))}</td>
                                                    <td class=TD>{c.tags.into_iter().map(|t| view! { <span class="mr-1"><Badge text=t.to_string() tone=Tone::Neutral /></span> }).collect_view()}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                    <Pager page pages total=list.total href=move |p| query_link("/consumers", &query.get_untracked(), "page", &p.to_string()) />
                                    <ActionForm action=tag attr:class="flex flex-wrap items-end gap-3 border-t border-slate-200 p-4">
                                        {filters().pairs().into_iter().map(|(k, v)| view! {
                                            <input type="hidden" name=format!("query[{k}]") value=v.to_string() />
                                        }).collect_view()}
                                        <label class=LABEL>{format!("Tag all {} consumers in this view", list.total)}<input class=INPUT name="tag" required /></label>
                                        <button class=BUTTON_QUIET type="submit">"Add tag"</button>
                                        <button class=BUTTON_QUIET type="submit" name="remove" value="yes">"Remove tag"</button>
                                    </ActionForm>
                                }.into_any()
                            }
                        }
                    })}
                </Transition>
                <FormError value=tag.value() />
                {move || tag.value().get().and_then(Result::ok).map(|n| view! {
                    <p role="status" class="m-4 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-800">{format!("{n} consumers changed.")}</p>
                })}
            </div>
        </Page>
    }
}

const PATTERNS: [(&str, &str); 6] = {
    use rekey_core::inventory::IntegrationPattern as P;
    [
        (P::ServerSdk.as_str(), P::ServerSdk.label()),
        (P::WebhookReceiver.as_str(), P::WebhookReceiver.label()),
        (P::CiCdPipeline.as_str(), P::CiCdPipeline.label()),
        (P::MobileApp.as_str(), P::MobileApp.label()),
        (P::NoCodeConnector.as_str(), P::NoCodeConnector.label()),
        (P::DirectHttp.as_str(), P::DirectHttp.label()),
    ]
};

/// Percent-encodes a query value.
fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
pub fn ConsumerPage() -> impl IntoView {
    let params = use_params_map();
    let move_status = ServerAction::<SetStatus>::new();
    let set_window = ServerAction::<SetSendWindow>::new();
    let ask_override = ServerAction::<RequestOverride>::new();
    let approve = ServerAction::<ApproveOverride>::new();
    let detail = Resource::new(
        move || {
            (
                params.with(|p| p.get("id").unwrap_or_default()),
                move_status.version().get() + ask_override.version().get(),
                set_window.version().get() + approve.version().get(),
            )
        },
        |(id, _, _)| consumer(id),
    );
    view! {
        <Transition fallback=|| view! { <Page title="Consumer"><p>"Loading…"</p></Page> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(error) => view! { <Page title="Consumer"><LoadError error /></Page> }.into_any(),
                    Ok(detail) => {
                        let c = detail.consumer.clone();
                        view! {
                        <Page title=c.name.clone()>
                            <div class="grid gap-6 lg:grid-cols-3">
                                <div class=CARD>
                                    <h2 class="mb-3 text-lg font-semibold">"Integration"</h2>
                                    <dl class="grid grid-cols-3 gap-2 text-sm">
                                        <dt class="text-slate-500">"Pattern"</dt><dd class="col-span-2">{c.integration.label()}</dd>
                                        <dt class="text-slate-500">"Time zone"</dt><dd class="col-span-2">{c.time_zone.to_string()}</dd>
                                        <dt class="text-slate-500">"External id"</dt><dd class="col-span-2 font-mono text-xs">{c.external_id.to_string()}</dd>
                                        <dt class="text-slate-500">"Tags"</dt><dd class="col-span-2">{c.tags.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")}</dd>
                                        <dt class="text-slate-500">"Send window"</dt><dd class="col-span-2">{c.send_window.to_string()}</dd>
                                    </dl>
                                    <ActionForm action=set_window attr:class="mt-3 flex items-end gap-2" attr:aria-label="Send window">
                                        <input type="hidden" name="consumer" value=c.id.get() />
                                        <label class=LABEL>"Notices go out (its time)"
                                            <input class=INPUT name="window" value=c.send_window.to_string() />
                                        </label>
                                        <button class=BUTTON_QUIET type="submit">"Save window"</button>
                                    </ActionForm>
                                    <FormError value=set_window.value() />
                                    <h2 class="mb-3 mt-6 text-lg font-semibold">"Contacts"</h2>
                                    <ul class="space-y-2 text-sm">
                                        {c.contacts.iter().map(|k| view! {
                                            <li><span class="inline-block w-24 text-slate-500">{k.role.label()}</span>{k.name.clone()}" · "<span class="font-mono text-xs">{k.email.to_string()}</span></li>
                                        }).collect_view()}
                                    </ul>
                                </div>
                                <div class=format!("{CARD} lg:col-span-2 overflow-x-auto")>
                                    <h2 class="mb-3 text-lg font-semibold">"Credentials"</h2>
                                    <FormError value=move_status.value() />
                                    <FormError value=ask_override.value() />
                                    <FormError value=approve.value() />
                                    <table class=TABLE>
                                        <thead><tr><th class=TH>"Key"</th><th class=TH>"Environment"</th><th class=TH>"Status"</th><th class=TH>"Created"</th><th class=TH>"Last used"</th><th class=TH>"Services"</th><th class=TH>"Move to"</th></tr></thead>
                                        <tbody class="divide-y divide-slate-100">
                                            {c.credentials.clone().into_iter().map(|k| {
                                                let replaced_by = detail.replacement_of(&k).map(str::to_string);
                                                let max_age_days = detail.max_age_days(&k);
                                                let age_days = k.age_days(detail.now);
                                                let safety = detail.revocation.iter().find(|(id, _)| *id == k.id).map(|(_, s)| s.clone());
                                                view! {
                                                <tr>
                                                    <td class=TD><div class="font-medium">{k.label.clone()}</div><code class="font-mono text-xs">{k.prefix.to_string()}"…"</code><div class="font-mono text-xs text-slate-400">{k.external_id.to_string()}</div></td>
                                                    <td class=TD>{k.environment.label()}</td>
                                                    <td class=TD>
                                                        <Badge text=k.status.as_str().to_string() tone=if k.status == CredentialStatus::Active { Tone::Good } else { Tone::Warn } />
                                                        {k.migrated_at.map(|at| view! { <div class="mt-1"><Badge text="migrated".to_string() tone=Tone::Good /><div class="text-xs text-slate-500">{format!("to {} since {}", replaced_by.clone().unwrap_or_default(), at.utc_minute())}</div></div> })}
                                                        {(k.migrated_at.is_none()).then(|| replaced_by.clone()).flatten().map(|to| view! { <div class="text-xs text-slate-500">{format!("replaced by {to}; not migrated yet")}</div> })}
                                                        {safety.map(|s| view! { <RevocationSafeguard id=k.id.get() external_id=k.external_id.to_string() safety=s ask_override approve /> })}
                                                    </td>
                                                    <td class=format!("{TD} text-xs")>{k.created_at.utc_minute()}<AgeBar age_days max_age_days /></td>
                                                    <td class=format!("{TD} text-xs")>{k.last_used_at.map_or_else(|| "never".into(), |t| t.utc_minute())}</td>
                                                    <td class=format!("{TD} text-xs")>{k.services.join(", ")}</td>
                                                    <td class=TD>
                                                        <ActionForm action=move_status attr:class="flex gap-1">
                                                            <input type="hidden" name="credential" value=k.id.get() />
                                                            <select class="rounded border border-slate-300 text-xs" name="status" aria-label=format!("New status of {}", k.external_id)>
                                                                {CredentialStatus::ALL.iter().map(|s| view! { <option value=s.as_str()>{s.label()}</option> }).collect_view()}
                                                            </select>
                                                            <button class=BUTTON_QUIET type="submit" aria-label=format!("Change the status of {}", k.external_id)>"Set"</button>
                                                        </ActionForm>
                                                    </td>
                                                </tr>
                                            }}).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            </div>
                            <div class=format!("{CARD} mt-6")>
                                <h2 class="mb-3 text-lg font-semibold">"Timeline"</h2>
                                {detail.timeline.is_empty().then(|| view! { <p class="text-sm text-slate-500">"Nothing has happened yet."</p> })}
                                <ol class="space-y-1 text-sm">
                                    {detail.timeline.iter().map(|t| view! {
                                        <li><span class="inline-block w-44 text-xs text-slate-500">{t.at.utc_minute()}</span><span class="font-mono text-xs">{t.action.as_str()}</span>" · "{t.actor.clone()}" · "<span class="text-xs text-slate-500">{t.target.clone()}</span></li>
                                    }).collect_view()}
                                </ol>
                            </div>
                        </Page>
                    }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// Whether a credential may be revoked now, and the override a person asks for (with a
/// reason) and a second person approves when its consumer still uses it.
#[component]
fn RevocationSafeguard(
    id: i64,
    external_id: String,
    safety: rekey_core::inventory::views::RevocationSafety,
    ask_override: ServerAction<RequestOverride>,
    approve: ServerAction<ApproveOverride>,
) -> impl IntoView {
    if safety.status == CredentialStatus::Revoked {
        return ().into_any();
    }
    let overridden = safety.overridden.clone();
    let label = if !safety.safe {
        view! { <Badge text="unsafe to revoke".to_string() tone=Tone::Bad /> }.into_any()
    } else if safety.blocking.is_empty() {
        view! { <Badge text="safe to revoke".to_string() tone=Tone::Good /> }.into_any()
    } else {
        view! { <Badge text="safe to revoke: override".to_string() tone=Tone::Warn /> }.into_any()
    };
    let action = match overridden {
        None if !safety.safe => view! {
            <details class="mt-1 text-xs">
                <summary class="cursor-pointer text-slate-500">"Ask to revoke anyway…"</summary>
                <ActionForm action=ask_override attr:class="mt-1 flex gap-1">
                    <input type="hidden" name="credential" value=id />
                    <input class=INPUT name="reason" required placeholder="Why it must go although it is in use" aria-label=format!("Reason to revoke {external_id} anyway") />
                    <button class=BUTTON_QUIET type="submit">"Ask"</button>
                </ActionForm>
            </details>
        }.into_any(),
        Some(o) if o.approved_at.is_none() => view! {
            <div class="mt-1 text-xs text-slate-600">{format!("Override asked by {}: {}", o.requested_by, o.reason)}</div>
            <ActionForm action=approve attr:class="mt-1">
                <input type="hidden" name="credential" value=id />
                <button class=BUTTON_QUIET type="submit" aria-label=format!("Approve revoking {external_id} anyway")>"Approve override"</button>
            </ActionForm>
        }.into_any(),
        Some(o) => view! {
            <div class="mt-1 text-xs text-slate-600">{format!("Override asked by {} and approved by {}: {}", o.requested_by, o.approved_by.unwrap_or_default(), o.reason)}</div>
        }.into_any(),
        None => ().into_any(),
    };
    view! { <div class="mt-1">{label}{action}</div> }.into_any()
}
