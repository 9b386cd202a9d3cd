//! Consumers and the credentials they hold.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};
use rekey_core::inventory::IntegrationPattern;
use serde::{Deserialize, Serialize};

use crate::components::{
    BUTTON_QUIET, Badge, CARD, INPUT, LABEL, LoadError, Page, Pager, TABLE, TD, TH, Tone,
    query_link,
};
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

pub const PAGE_SIZE: u32 = 25;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerRow {
    pub id: i64,
    pub external_id: String,
    pub name: String,
    pub integration: String,
    pub time_zone: String,
    pub tags: Vec<String>,
    pub credentials: i64,
    pub contact: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerList {
    pub rows: Vec<ConsumerRow>,
    pub total: i64,
    pub page: u32,
}

#[server(endpoint = "inventory/consumers")]
pub async fn consumers(
    text: Option<String>,
    pattern: Option<String>,
    page: Option<u32>,
) -> Result<ConsumerList, AppError> {
    use rekey_core::inventory::store::{self, ConsumerFilter};
    session::authorize::<Consumers>().await?;
    let rk = session::rekey()?;
    let pattern = pattern
        .filter(|p| !p.trim().is_empty())
        .map(|p| p.parse::<IntegrationPattern>())
        .transpose()?;
    let page = page.unwrap_or(1).max(1);
    let filter = ConsumerFilter { text, pattern };
    let (rows, total) =
        store::list_consumers(&rk.db, &filter, (page - 1) * PAGE_SIZE, PAGE_SIZE).await?;
    Ok(ConsumerList {
        rows: rows
            .into_iter()
            .map(|c| ConsumerRow {
                id: c.id.get(),
                external_id: c.external_id,
                name: c.name,
                integration: c.integration.label(),
                time_zone: c.time_zone,
                tags: c.tags,
                credentials: c.credentials,
                contact: c.contact,
            })
            .collect(),
        total,
        page,
    })
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactView {
    pub role: String,
    pub name: String,
    pub email: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialView {
    pub id: i64,
    pub label: String,
    pub environment: String,
    pub prefix: String,
    pub status: String,
    pub services: Vec<String>,
    pub created: String,
    pub age_days: i64,
    pub last_used: Option<String>,
    pub expires: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerDetail {
    pub name: String,
    pub external_id: String,
    pub integration: String,
    pub time_zone: String,
    pub tags: Vec<String>,
    pub contacts: Vec<ContactView>,
    pub credentials: Vec<CredentialView>,
}

#[server(endpoint = "inventory/consumer")]
pub async fn consumer(id: String) -> Result<ConsumerDetail, AppError> {
    session::authorize::<Consumer>().await?;
    let rk = session::rekey()?;
    let c = rekey_core::inventory::store::consumer(&rk.db, id.parse()?).await?;
    let now = rk.now();
    Ok(ConsumerDetail {
        contacts: c
            .contacts
            .iter()
            .map(|k| ContactView {
                role: k.role.label().into(),
                name: k.name.clone(),
                email: k.email.to_string(),
            })
            .collect(),
        credentials: c
            .credentials
            .iter()
            .map(|k| CredentialView {
                id: k.id.get(),
                label: k.label.clone(),
                environment: k.environment.label().into(),
                prefix: k.prefix.to_string(),
                status: k.status.as_str().into(),
                services: k.services.clone(),
                created: k.created_at.utc_minute(),
                age_days: k.created_at.days_until(now),
                last_used: k.last_used_at.map(|t| t.utc_minute()),
                expires: k.expires_at.map(|t| t.utc_minute()),
            })
            .collect(),
        name: c.name,
        external_id: c.external_id,
        integration: c.integration.label(),
        time_zone: c.time_zone.to_string(),
        tags: c.tags,
    })
}

#[component]
pub fn ConsumersPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.with(|q| q.get(k)).filter(|v| !v.is_empty());
    let list = Resource::new(
        move || {
            (
                param("q"),
                param("pattern"),
                param("page").and_then(|p| p.parse::<u32>().ok()),
            )
        },
        |(q, pattern, page)| consumers(q, pattern, page),
    );
    view! {
        <Page title="Consumers">
            <Form method="GET" action="/consumers" attr:class="mb-6 flex flex-wrap items-end gap-3">
                <label class=LABEL>"Search"<input class=INPUT type="search" name="q" value=move || param("q") placeholder="name, contact e-mail, tag" /></label>
                <label class=LABEL>
                    "Integration"
                    <select class=INPUT name="pattern">
                        <option value="">"Any"</option>
                        {IntegrationPattern::ALL.iter().map(|p| {
                            let value = p.as_str();
                            view! { <option value=value selected=move || param("pattern").as_deref() == Some(value)>{p.label()}</option> }
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
                                            <th class=TH>"Consumer"</th><th class=TH>"Integration"</th><th class=TH>"Contact"</th><th class=TH>"Time zone"</th><th class=TH>"Keys"</th><th class=TH>"Tags"</th>
                                        </tr></thead>
                                        <tbody class="divide-y divide-slate-100">
                                            {list.rows.into_iter().map(|c| view! {
                                                <tr>
                                                    <td class=TD>
                                                        <a class="font-medium text-indigo-700 hover:underline" href=format!("/consumers/{}", c.id)>{c.name}</a>
                                                        <div class="font-mono text-xs text-slate-400">{c.external_id}</div>
                                                    </td>
                                                    <td class=TD>{c.integration}</td>
                                                    <td class=format!("{TD} text-xs")>{c.contact}</td>
                                                    <td class=format!("{TD} text-xs")>{c.time_zone}</td>
                                                    <td class=TD>{c.credentials}</td>
                                                    <td class=TD>{c.tags.into_iter().map(|t| view! { <span class="mr-1"><Badge text=t tone=Tone::Neutral /></span> }).collect_view()}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                    <Pager page pages total=list.total href=move |p| query_link("/consumers", &query.get_untracked(), "page", &p.to_string()) />
                                }.into_any()
                            }
                        }
                    })}
                </Transition>
            </div>
        </Page>
    }
}

#[component]
pub fn ConsumerPage() -> impl IntoView {
    let params = use_params_map();
    let detail = Resource::new(
        move || params.with(|p| p.get("id").unwrap_or_default()),
        consumer,
    );
    view! {
        <Transition fallback=|| view! { <Page title="Consumer"><p>"Loading…"</p></Page> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(error) => view! { <Page title="Consumer"><LoadError error /></Page> }.into_any(),
                    Ok(c) => view! {
                        <Page title=c.name.clone()>
                            <div class="grid gap-6 lg:grid-cols-3">
                                <div class=CARD>
                                    <h2 class="mb-3 text-lg font-semibold">"Integration"</h2>
                                    <dl class="grid grid-cols-3 gap-2 text-sm">
                                        <dt class="text-slate-500">"Pattern"</dt><dd class="col-span-2">{c.integration.clone()}</dd>
                                        <dt class="text-slate-500">"Time zone"</dt><dd class="col-span-2">{c.time_zone.clone()}</dd>
                                        <dt class="text-slate-500">"External id"</dt><dd class="col-span-2 font-mono text-xs">{c.external_id.clone()}</dd>
                                        <dt class="text-slate-500">"Tags"</dt><dd class="col-span-2">{c.tags.join(", ")}</dd>
                                    </dl>
                                    <h2 class="mb-3 mt-6 text-lg font-semibold">"Contacts"</h2>
                                    <ul class="space-y-2 text-sm">
                                        {c.contacts.iter().map(|k| view! {
                                            <li><span class="inline-block w-24 text-slate-500">{k.role.clone()}</span>{k.name.clone()}" · "<span class="font-mono text-xs">{k.email.clone()}</span></li>
                                        }).collect_view()}
                                    </ul>
                                </div>
                                <div class=format!("{CARD} lg:col-span-2 overflow-x-auto")>
                                    <h2 class="mb-3 text-lg font-semibold">"Credentials"</h2>
                                    <table class=TABLE>
                                        <thead><tr><th class=TH>"Key"</th><th class=TH>"Environment"</th><th class=TH>"Status"</th><th class=TH>"Created"</th><th class=TH>"Last used"</th><th class=TH>"Services"</th></tr></thead>
                                        <tbody class="divide-y divide-slate-100">
                                            {c.credentials.iter().map(|k| view! {
                                                <tr>
                                                    <td class=TD><div class="font-medium">{k.label.clone()}</div><code class="font-mono text-xs">{k.prefix.clone()}"…"</code></td>
                                                    <td class=TD>{k.environment.clone()}</td>
                                                    <td class=TD><Badge text=k.status.clone() tone=if k.status == "active" { Tone::Good } else { Tone::Warn } /></td>
                                                    <td class=format!("{TD} text-xs")>{k.created.clone()}<div class="text-slate-400">{format!("{} days old", k.age_days)}</div></td>
                                                    <td class=format!("{TD} text-xs")>{k.last_used.clone().unwrap_or_else(|| "never".into())}</td>
                                                    <td class=format!("{TD} text-xs")>{k.services.join(", ")}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            </div>
                        </Page>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}
