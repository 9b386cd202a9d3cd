//! The credential lifecycle views: what breaks the rotation policy (overdue) and what nothing
//! seems to use any more (orphans), with the rotation policy per environment.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::components::{
    BUTTON_QUIET, CARD, FormError, INPUT, LABEL, LoadError, Page, TABLE, TD, TH,
};
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRow {
    pub consumer_id: i64,
    pub consumer: String,
    pub external_id: String,
    pub label: String,
    pub environment: String,
    pub status: String,
    pub age_days: i64,
    pub max_age_days: Option<i64>,
    pub last_used: Option<String>,
    pub services: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleList {
    pub rows: Vec<LifecycleRow>,
    pub total: i64,
}

/// `view` is `overdue` or `orphans` (unused for `days`, default 90, or feeding no service).
#[server(endpoint = "inventory/lifecycle")]
pub async fn lifecycle(view: String, days: Option<u32>) -> Result<LifecycleList, AppError> {
    use rekey_core::inventory::store::{self, LifecycleView};
    session::authorize::<Lifecycle>().await?;
    let rk = session::rekey()?;
    let view = match view.as_str() {
        "overdue" => LifecycleView::Overdue,
        "orphans" => LifecycleView::Orphans {
            days: days.unwrap_or(90),
        },
        other => {
            return Err(AppError::invalid(
                "view",
                format!("'{other}' is not a view; use overdue or orphans"),
            ));
        }
    };
    let now = rk.now();
    let (lines, total) = store::lifecycle(&rk.db, view, now, 200).await?;
    Ok(LifecycleList {
        rows: lines
            .into_iter()
            .map(|l| {
                let k = l.credential.credential;
                LifecycleRow {
                    consumer_id: k.consumer.get(),
                    consumer: l.credential.consumer_name,
                    external_id: k.external_id.to_string(),
                    label: k.label,
                    environment: k.environment.label().into(),
                    status: k.status.as_str().into(),
                    age_days: k.created_at.days_until(now),
                    max_age_days: l.max_age_days,
                    last_used: k.last_used_at.map(|t| t.utc_minute()),
                    services: k.services,
                }
            })
            .collect(),
        total,
    })
}

#[server(endpoint = "inventory/policies")]
pub async fn policies() -> Result<Vec<(String, String, Option<i64>)>, AppError> {
    use rekey_core::inventory::Environment;
    session::authorize::<Policies>().await?;
    let rk = session::rekey()?;
    let set = rekey_core::inventory::store::rotation_policies(&rk.db).await?;
    Ok(Environment::ALL
        .iter()
        .map(|e| {
            let days = set.iter().find(|(s, _)| s == e).map(|(_, d)| *d);
            (e.as_str().to_string(), e.label().to_string(), days)
        })
        .collect())
}

/// An empty `max_age_days` removes the environment's policy.
#[server(endpoint = "inventory/set_policy")]
pub async fn set_policy(environment: String, max_age_days: String) -> Result<(), AppError> {
    let (identity, _) = session::authorize::<SetPolicy>().await?;
    let rk = session::rekey()?;
    let environment = environment.parse()?;
    let days = match max_age_days.trim() {
        "" => None,
        d => Some(d.parse::<i64>().map_err(|_| {
            AppError::invalid("max_age_days", format!("'{d}' is not a number of days"))
        })?),
    };
    Ok(rekey_core::inventory::store::set_rotation_policy(
        &rk.db,
        (&identity).into(),
        rk.now(),
        environment,
        days,
    )
    .await?)
}

#[component]
pub fn LifecyclePage() -> impl IntoView {
    let query = use_query_map();
    let view_name = move || {
        query
            .with(|q| q.get("view"))
            .unwrap_or_else(|| "overdue".into())
    };
    let days = move || {
        query
            .with(|q| q.get("days"))
            .and_then(|d| d.parse::<u32>().ok())
    };
    let save = ServerAction::<SetPolicy>::new();
    let list = Resource::new(
        move || (view_name(), days(), save.version().get()),
        |(view, days, _)| lifecycle(view, days),
    );
    let rules = Resource::new(move || save.version().get(), |_| policies());
    let tab = move |name: &'static str, text: &'static str| {
        view! {
            <a href=format!("/credentials?view={name}")
               class=move || if view_name() == name { "rounded-md bg-indigo-600 px-3 py-1.5 text-sm font-semibold text-white" } else { BUTTON_QUIET }
               aria-current=move || (view_name() == name).then_some("page")>{text}</a>
        }
    };
    view! {
        <Page title="Credentials">
            <div class="grid gap-6 lg:grid-cols-4">
                <div class="lg:col-span-3">
                    <div class="mb-4 flex flex-wrap items-end gap-3">
                        {tab("overdue", "Overdue")}
                        {tab("orphans", "Orphans")}
                        <Show when=move || view_name() == "orphans">
                            <Form method="GET" action="/credentials" attr:class="flex items-end gap-2">
                                <input type="hidden" name="view" value="orphans" />
                                <label class=LABEL>"Unused for (days)"<input class=INPUT type="number" min="1" name="days" value=move || days().unwrap_or(90) /></label>
                                <button class=BUTTON_QUIET type="submit">"Show"</button>
                            </Form>
                        </Show>
                    </div>
                    <div class=format!("{CARD} overflow-x-auto p-0")>
                        <Transition fallback=|| view! { <p class="p-4">"Loading…"</p> }>
                            {move || Suspend::new(async move {
                                match list.await {
                                    Err(error) => view! { <div class="p-4"><LoadError error /></div> }.into_any(),
                                    Ok(list) if list.rows.is_empty() => view! { <p class="p-4 text-sm text-slate-500">"Nothing here."</p> }.into_any(),
                                    Ok(list) => view! {
                                        <p class="p-3 text-sm text-slate-600">{format!("{} credentials{}", list.total, if list.total > list.rows.len() as i64 { format!(", the oldest {} shown", list.rows.len()) } else { String::new() })}</p>
                                        <table class=TABLE>
                                            <thead class="bg-slate-50"><tr><th class=TH>"Credential"</th><th class=TH>"Consumer"</th><th class=TH>"Environment"</th><th class=TH>"Age"</th><th class=TH>"Last used"</th><th class=TH>"Services"</th></tr></thead>
                                            <tbody class="divide-y divide-slate-100">
                                                {list.rows.into_iter().map(|r| view! {
                                                    <tr>
                                                        <td class=TD><div class="font-medium">{r.label}</div><div class="font-mono text-xs text-slate-400">{r.external_id}" · "{r.status}</div></td>
                                                        <td class=TD><a class="text-indigo-700 hover:underline" href=format!("/consumers/{}", r.consumer_id)>{r.consumer}</a></td>
                                                        <td class=TD>{r.environment}</td>
                                                        <td class=format!("{TD} text-xs")>{match r.max_age_days { Some(max) => format!("{} days (policy {max})", r.age_days), None => format!("{} days", r.age_days) }}</td>
                                                        <td class=format!("{TD} text-xs")>{r.last_used.unwrap_or_else(|| "never".into())}</td>
                                                        <td class=format!("{TD} text-xs")>{if r.services.is_empty() { "none".to_string() } else { r.services.join(", ") }}</td>
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                    }.into_any(),
                                }
                            })}
                        </Transition>
                    </div>
                </div>
                <div class=CARD>
                    <h2 class="mb-3 text-lg font-semibold">"Rotation policy"</h2>
                    <p class="mb-3 text-sm text-slate-600">"The maximum age of a credential per environment; a credential's own maximum age (set by import) overrides it. Empty: no policy."</p>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            match rules.await {
                                Err(error) => view! { <LoadError error /> }.into_any(),
                                Ok(rules) => rules.into_iter().map(|(env, label, days)| view! {
                                    <ActionForm action=save attr:class="mb-2 flex items-end gap-2">
                                        <input type="hidden" name="environment" value=env />
                                        <label class=LABEL>{format!("{label} (days)")}<input class=INPUT type="number" min="1" name="max_age_days" value=days.map(|d| d.to_string()).unwrap_or_default() /></label>
                                        <button class=BUTTON_QUIET type="submit" aria-label=format!("Save the {label} policy")>"Save"</button>
                                    </ActionForm>
                                }).collect_view().into_any(),
                            }
                        })}
                    </Transition>
                    <FormError value=save.value() />
                </div>
            </div>
        </Page>
    }
}
