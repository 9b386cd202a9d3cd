//! The local mailbox: what each recipient would have received, when no SMTP server is set.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

use crate::components::{BUTTON_QUIET, CARD, INPUT, LABEL, LoadError, Page, TABLE, TD, TH};
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailRow {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub delivered: String,
}

#[server(endpoint = "mailbox/list")]
pub async fn mail(recipient: Option<String>) -> Result<Vec<MailRow>, AppError> {
    session::authorize::<Mail>().await?;
    let rk = session::rekey()?;
    let recipient = recipient.filter(|r| !r.trim().is_empty());
    Ok(
        rekey_core::delivery::mailbox::list(&rk.db, recipient.as_deref().map(str::trim), 200)
            .await?
            .into_iter()
            .map(|m| MailRow {
                id: m.id,
                recipient: m.recipient.to_string(),
                subject: m.subject,
                delivered: m.delivered_at.utc_minute(),
            })
            .collect(),
    )
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailView {
    pub message_id: String,
    pub sender: String,
    pub recipient: String,
    pub subject: String,
    pub delivered: String,
    pub text_body: String,
    pub html_body: String,
}

#[server(endpoint = "mailbox/message")]
pub async fn message(id: String) -> Result<MailView, AppError> {
    session::authorize::<Message>().await?;
    let rk = session::rekey()?;
    let id = id
        .trim()
        .parse::<i64>()
        .map_err(|_| AppError::invalid("id", format!("'{id}' is not a message id")))?;
    let m = rekey_core::delivery::mailbox::message(&rk.db, id).await?;
    Ok(MailView {
        message_id: m.message_id,
        sender: m.sender.to_string(),
        recipient: m.recipient.to_string(),
        subject: m.subject,
        delivered: m.delivered_at.utc_minute(),
        text_body: m.text_body,
        html_body: m.html_body,
    })
}

#[component]
pub fn MailboxPage() -> impl IntoView {
    let query = use_query_map();
    let to = move || query.with(|q| q.get("to")).filter(|v| !v.is_empty());
    let list = Resource::new(to, mail);
    view! {
        <Page title="Mailbox">
            <p class="mb-4 max-w-3xl text-sm text-slate-600">"No SMTP server is configured, so approved notices are delivered here: each message exactly as its recipient would receive it."</p>
            <Form method="GET" action="/mailbox" attr:class="mb-4 flex items-end gap-3">
                <label class=LABEL>"Recipient"<input class=INPUT type="search" name="to" value=to /></label>
                <button class=BUTTON_QUIET type="submit">"Show"</button>
            </Form>
            <div class=format!("{CARD} overflow-x-auto p-0")>
                <Transition fallback=|| view! { <p class="p-4">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match list.await {
                            Err(error) => view! { <div class="p-4"><LoadError error /></div> }.into_any(),
                            Ok(rows) if rows.is_empty() => view! { <p class="p-4 text-sm text-slate-500">"The mailbox is empty."</p> }.into_any(),
                            Ok(rows) => view! {
                                <table class=TABLE>
                                    <thead class="bg-slate-50"><tr><th class=TH>"To"</th><th class=TH>"Subject"</th><th class=TH>"Delivered"</th></tr></thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {rows.into_iter().map(|m| view! {
                                            <tr>
                                                <td class=format!("{TD} font-mono text-xs")>{m.recipient}</td>
                                                <td class=TD><a class="text-indigo-700 hover:underline" href=format!("/mailbox/{}", m.id)>{m.subject}</a></td>
                                                <td class=format!("{TD} text-xs")>{m.delivered}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </div>
        </Page>
    }
}

#[component]
pub fn MailPage() -> impl IntoView {
    let params = use_params_map();
    let mail = Resource::new(
        move || params.with(|p| p.get("id").unwrap_or_default()),
        message,
    );
    view! {
        <Transition fallback=|| view! { <Page title="Message"><p>"Loading…"</p></Page> }>
            {move || Suspend::new(async move {
                match mail.await {
                    Err(error) => view! { <Page title="Message"><LoadError error /></Page> }.into_any(),
                    Ok(m) => view! {
                        <Page title=m.subject.clone()>
                            <dl class=format!("{CARD} mb-6 grid grid-cols-6 gap-1 text-sm")>
                                <dt class="text-slate-500">"From"</dt><dd class="col-span-5 font-mono text-xs">{m.sender.clone()}</dd>
                                <dt class="text-slate-500">"To"</dt><dd class="col-span-5 font-mono text-xs">{m.recipient.clone()}</dd>
                                <dt class="text-slate-500">"Delivered"</dt><dd class="col-span-5">{m.delivered.clone()}</dd>
                                <dt class="text-slate-500">"Message-ID"</dt><dd class="col-span-5 font-mono text-xs">{m.message_id.clone()}</dd>
                            </dl>
                            <div class="grid gap-6 lg:grid-cols-2">
                                <section class=CARD aria-label="Text part">
                                    <h2 class="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">"Text part"</h2>
                                    <pre data-testid="text-part" class="whitespace-pre-wrap font-mono text-xs">{m.text_body.clone()}</pre>
                                </section>
                                <section class=CARD aria-label="HTML part">
                                    <h2 class="mb-2 text-sm font-semibold uppercase tracking-wide text-slate-500">"HTML part"</h2>
                                    // The HTML was sanitised when the notice was rendered; the sandbox keeps
                                    // even a slip from running anything.
                                    <iframe title="HTML part" sandbox="" srcdoc=m.html_body.clone() class="h-[36rem] w-full rounded border border-slate-200 bg-white"></iframe>
                                </section>
                            </div>
                        </Page>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}
