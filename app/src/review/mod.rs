//! The review queue and the notice page: edit, check, review, approve.

use leptos::prelude::*;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;
use rekey_core::identity::Permission;
use rekey_core::inventory::IntegrationPattern;
use rekey_core::notices::NoticeState;
use rekey_core::notices::views::QueuePage;
use serde::{Deserialize, Serialize};

use crate::auth::use_me;
use crate::components::{
    BUTTON, BUTTON_QUIET, Badge, CARD, FormError, INPUT, LABEL, LoadError, Page, Pager, TABLE, TD,
    TH, Tone, query_link,
};
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

mod notice;
mod notice_server;

pub use notice::NoticePage;

pub const PAGE_SIZE: u32 = 50;

#[server(endpoint = "review/queue")]
pub async fn queue(
    campaign: Option<String>,
    pattern: Option<String>,
    checks: Option<String>,
    state: Option<String>,
    page: Option<u32>,
    #[server(default)] kind: Option<String>,
    #[server(default)] tag: Option<String>,
) -> Result<QueuePage, AppError> {
    use rekey_core::notices::views::QueueQuery;
    session::authorize::<Queue>().await?;
    let rk = session::rekey()?;
    let filter = QueueQuery {
        campaign,
        pattern,
        checks,
        state,
        kind,
        tag,
    }
    .parse()?;
    let page = page.unwrap_or(1).max(1);
    // A page number from the client can be anything: the offset saturates instead of overflowing.
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    let (rows, total) =
        rekey_core::notices::queue::queue(&rk.db, &filter, offset, PAGE_SIZE).await?;
    let campaigns = rekey_core::notices::campaigns::list(&rk.db)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    Ok(QueuePage {
        rows,
        total,
        page,
        campaigns,
    })
}

/// What approving several notices did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkResult {
    pub approved: usize,
    pub skipped: Vec<(i64, String)>,
}

/// The notices a queue form selected: at least one, each a notice id.
#[cfg(feature = "ssr")]
fn selection(notices: Option<Vec<String>>) -> Result<Vec<rekey_core::notices::NoticeId>, AppError> {
    let ids = notices
        .unwrap_or_default()
        .iter()
        .map(|n| n.parse())
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        return Err(AppError::invalid("notices", "select at least one notice"));
    }
    Ok(ids)
}

#[server(endpoint = "review/approve_many")]
pub async fn approve_many(notices: Option<Vec<String>>) -> Result<BulkResult, AppError> {
    let (who, _) = session::authorize::<ApproveMany>().await?;
    let rk = session::rekey()?;
    let ids = selection(notices)?;
    let outcome = rekey_core::notices::workflow::approve_many(&rk, &who, &ids).await?;
    Ok(BulkResult {
        approved: outcome.approved.len(),
        skipped: outcome
            .skipped
            .into_iter()
            .map(|(id, why)| (id.get(), why))
            .collect(),
    })
}

/// What submitting several notices did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitResult {
    pub submitted: usize,
    pub skipped: Vec<(i64, String)>,
}

/// Submits the selected drafts for review (engineers): a whole series in one step.
#[server(endpoint = "review/submit_many")]
pub async fn submit_many(notices: Option<Vec<String>>) -> Result<SubmitResult, AppError> {
    let (who, _) = session::authorize::<SubmitMany>().await?;
    let rk = session::rekey()?;
    let ids = selection(notices)?;
    let outcome = rekey_core::notices::workflow::submit_many(&rk, &who, &ids).await?;
    Ok(SubmitResult {
        submitted: outcome.submitted.len(),
        skipped: outcome
            .skipped
            .into_iter()
            .map(|(id, why)| (id.get(), why))
            .collect(),
    })
}

pub fn state_tone(state: NoticeState) -> Tone {
    match state {
        NoticeState::Drafted => Tone::Neutral,
        NoticeState::InReview => Tone::Warn,
        NoticeState::Approved | NoticeState::Sent => Tone::Good,
        NoticeState::Failed => Tone::Bad,
        NoticeState::NotSent => Tone::Neutral,
    }
}

#[component]
pub fn ReviewPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |k: &str| query.with(|q| q.get(k)).filter(|v| !v.is_empty());
    let bulk = ServerAction::<ApproveMany>::new();
    let submit = ServerAction::<SubmitMany>::new();
    let list = Resource::new(
        move || {
            (
                param("campaign"),
                param("pattern"),
                param("checks"),
                param("state"),
                param("page").and_then(|p| p.parse::<u32>().ok()),
                param("kind"),
                param("tag"),
                bulk.version().get() + submit.version().get(),
            )
        },
        |(campaign, pattern, checks, state, page, kind, tag, _)| {
            queue(campaign, pattern, checks, state, page, kind, tag)
        },
    );
    let me = use_me().0;
    view! {
        <Page title="Review queue">
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let me = me.await;
                    let may_approve = matches!(&me, Ok(Some(p)) if p.may(Permission::ApproveNotices));
                    let may_submit = matches!(&me, Ok(Some(p)) if p.may(Permission::EditNotices));
                    match list.await {
                        Err(error) => view! { <LoadError error /> }.into_any(),
                        Ok(page) => view! { <Queue page may_approve may_submit bulk submit query /> }.into_any(),
                    }
                })}
            </Transition>
        </Page>
    }
}

#[component]
fn Queue(
    page: QueuePage,
    may_approve: bool,
    may_submit: bool,
    bulk: ServerAction<ApproveMany>,
    submit: ServerAction<SubmitMany>,
    query: Memo<leptos_router::params::ParamsMap>,
) -> impl IntoView {
    // Approvers approve what they select; engineers submit it. Nobody does both.
    let selects = may_approve || may_submit;
    let all = RwSignal::new(false);
    let rows = page.clone();
    let param = move |k: &str| query.with(|q| q.get(k)).filter(|v| !v.is_empty());
    let pages = (page.total as u32).div_ceil(PAGE_SIZE);
    let current = page.page;
    let states = [("pending", "Pending review")]
        .into_iter()
        .chain(NoticeState::ALL.iter().map(|s| (s.as_str(), s.label())))
        .collect::<Vec<_>>();
    view! {
        <Form method="GET" action="/review" attr:class="mb-6 flex flex-wrap items-end gap-3">
            <label class=LABEL>
                "Campaign"
                <select class=INPUT name="campaign">
                    <option value="">"Any"</option>
                    {page.campaigns.iter().map(|(id, name)| {
                        let value = id.to_string();
                        let selected = param("campaign").as_deref() == Some(value.as_str());
                        view! { <option value=value selected=selected>{name.to_string()}</option> }
                    }).collect_view()}
                </select>
            </label>
            <label class=LABEL>
                "Integration"
                <select class=INPUT name="pattern">
                    <option value="">"Any"</option>
                    {IntegrationPattern::ALL.iter().map(|p| view! { <option value=p.as_str() selected=param("pattern").as_deref() == Some(p.as_str())>{p.label()}</option> }).collect_view()}
                </select>
            </label>
            <label class=LABEL>
                "Checks"
                <select class=INPUT name="checks">
                    <option value="">"Any"</option>
                    <option value="passing" selected=param("checks").as_deref() == Some("passing")>"Passing"</option>
                    <option value="failing" selected=param("checks").as_deref() == Some("failing")>"Failing"</option>
                </select>
            </label>
            <label class=LABEL>
                "State"
                <select class=INPUT name="state">
                    {states.into_iter().map(|(value, label)| view! { <option value=value selected=param("state").as_deref().unwrap_or("pending") == value>{label}</option> }).collect_view()}
                </select>
            </label>
            {param("kind").map(|kind| view! { <input type="hidden" name="kind" value=kind /> })}
            {param("tag").map(|tag| view! { <input type="hidden" name="tag" value=tag /> })}
            <button class=BUTTON_QUIET type="submit">"Filter"</button>
        </Form>
        {move || bulk.value().get().and_then(Result::ok).map(|r| view! {
            <div role="status" class="mb-4 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-900">
                {format!("Approved {} notices.", r.approved)}
                {(!r.skipped.is_empty()).then(|| view! {
                    <ul class="mt-1 list-disc pl-5 text-amber-900">
                        {r.skipped.into_iter().map(|(id, why)| view! { <li>{format!("Notice {id} skipped: {why}")}</li> }).collect_view()}
                    </ul>
                })}
            </div>
        })}
        {move || submit.value().get().and_then(Result::ok).map(|r| view! {
            <div role="status" class="mb-4 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-900">
                {format!("Submitted {} notices for review.", r.submitted)}
                {(!r.skipped.is_empty()).then(|| view! {
                    <ul class="mt-1 list-disc pl-5 text-amber-900">
                        {r.skipped.into_iter().map(|(id, why)| view! { <li>{format!("Notice {id} skipped: {why}")}</li> }).collect_view()}
                    </ul>
                })}
            </div>
        })}
        <FormError value=bulk.value() />
        <FormError value=submit.value() />
        {if may_approve {
            view! { <ActionForm action=bulk attr:class=format!("{CARD} overflow-x-auto p-0")><QueueTable page=rows selects all /><BulkButton label="Approve selected" pending=bulk.pending() note="Only notices in review whose checks all pass, and that you did not write, are approved." /></ActionForm> }.into_any()
        } else if may_submit {
            view! { <ActionForm action=submit attr:class=format!("{CARD} overflow-x-auto p-0")><QueueTable page=rows selects all /><BulkButton label="Submit selected for review" pending=submit.pending() note="Drafts go to the approvers; the others are named with why they stay." /></ActionForm> }.into_any()
        } else {
            view! { <div class=format!("{CARD} overflow-x-auto p-0")><QueueTable page=rows selects all /></div> }.into_any()
        }}
        <Pager page=current pages total=page.total href=move |p| query_link("/review", &query.get_untracked(), "page", &p.to_string()) />
        {(!selects).then(|| view! { <p class="mt-3 text-xs text-slate-500">"Engineers submit drafts and approvers approve them; you can open a notice to read it."</p> })}
    }
}

/// The queue's rows; with a checkbox each (and one for the whole page) when the reader acts on
/// a selection.
#[component]
fn QueueTable(page: QueuePage, selects: bool, all: RwSignal<bool>) -> impl IntoView {
    if page.rows.is_empty() {
        return view! { <p class="p-4 text-sm text-slate-500">"No notices match."</p> }.into_any();
    }
    view! {
        <table class=TABLE>
            <thead class="bg-slate-50"><tr>
                {selects.then(|| view! {
                    <th class=TH>
                        <input type="checkbox" aria-label="Select every notice on this page"
                            prop:checked=move || all.get()
                            on:change=move |ev| all.set(event_target_checked(&ev)) />
                    </th>
                })}
                <th class=TH>"Notice"</th><th class=TH>"Step"</th><th class=TH>"Consumer"</th><th class=TH>"Integration"</th><th class=TH>"State"</th><th class=TH>"Checks"</th><th class=TH>"To"</th>
            </tr></thead>
            <tbody class="divide-y divide-slate-100">
                {page.rows.into_iter().map(|n| {
                    let label = format!("Select notice {} to {}", n.id, n.addressee.name());
                    view! {
                        <tr>
                            {selects.then(|| view! { <td class=TD><input type="checkbox" name="notices[]" value=n.id.to_string() aria-label=label prop:checked=move || all.get() /></td> })}
                            <td class=TD><a class="font-medium text-indigo-700 hover:underline" href=format!("/review/{}", n.id)>{format!("#{} v{}", n.id, n.version)}</a><div class="text-xs text-slate-400">{n.campaign_name.to_string()}</div></td>
                            <td class=format!("{TD} text-xs")>{n.step.to_string()}<div class="text-slate-400">{n.due_at.map(|d| format!("due {}", d.utc_minute()))}</div></td>
                            <td class=TD>{n.addressee.name().to_string()}</td>
                            <td class=TD>{n.addressee.pattern().map_or("—", |p| p.label())}</td>
                            <td class=TD><Badge text=n.state.label() tone=state_tone(n.state) /></td>
                            <td class=TD>{if n.checks_passed { view! { <Badge text="passing" tone=Tone::Good /> } } else { view! { <Badge text="failing" tone=Tone::Bad /> } }}</td>
                            <td class=format!("{TD} text-xs")>{n.recipient.to_string()}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// The button under a selectable queue, with what it does to a selection.
#[component]
fn BulkButton(label: &'static str, pending: Memo<bool>, note: &'static str) -> impl IntoView {
    view! {
        <div class="border-t border-slate-100 p-3">
            <button class=BUTTON type="submit" disabled=move || pending.get()>{label}</button>
            <span class="ml-3 text-xs text-slate-500">{note}</span>
        </div>
    }
}
