//! Rotation campaigns: list, plan (with a preview of who is affected), and follow.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use rekey_core::inventory::Environment;
use rekey_core::notices::views::{CalendarDay, CampaignProgress};

use crate::auth::use_me;
use crate::components::{
    BUTTON, BUTTON_QUIET, Badge, CARD, FillBar, FormError, INPUT, LABEL, LoadError, Page, TABLE,
    TD, TH, Tone,
};

mod burndown;
mod server;
mod timeline;

pub use burndown::BurnDownSvg;
pub use server::*;
pub use timeline::TimelineSvg;

#[component]
pub fn CampaignsPage() -> impl IntoView {
    let list = Resource::new(|| (), |_| campaigns());
    let me = use_me().0;
    view! {
        <Page title="Campaigns">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let may_plan = matches!(me.await, Ok(Some(p)) if p.may(rekey_core::identity::Permission::ManageCampaigns));
                    may_plan.then(|| view! { <p class="mb-4"><a class=BUTTON href="/campaigns/new">"Plan a rotation"</a></p> })
                })}
            </Suspense>
            <div class=format!("{CARD} overflow-x-auto p-0")>
                <Transition fallback=|| view! { <p class="p-4">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match list.await {
                            Err(error) => view! { <div class="p-4"><LoadError error /></div> }.into_any(),
                            Ok(rows) if rows.is_empty() => view! { <p class="p-4 text-sm text-slate-500">"No campaigns yet."</p> }.into_any(),
                            Ok(rows) => view! {
                                <table class=TABLE>
                                    <thead class="bg-slate-50"><tr><th class=TH>"Campaign"</th><th class=TH>"Credentials"</th><th class=TH>"Consumers"</th><th class=TH>"Deadline"</th><th class=TH>"State"</th></tr></thead>
                                    <tbody class="divide-y divide-slate-100">
                                        {rows.into_iter().map(|c| view! {
                                            <tr>
                                                <td class=TD><a class="font-medium text-indigo-700 hover:underline" href=format!("/campaigns/{}", c.id)>{c.name}</a></td>
                                                <td class=TD>{c.selector}</td>
                                                <td class=TD>{c.consumers}</td>
                                                <td class=format!("{TD} text-xs")>{c.deadline}</td>
                                                <td class=TD><Badge text=c.state tone=Tone::Neutral /></td>
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
pub fn NewCampaignPage() -> impl IntoView {
    let defaults = Resource::new(|| (), |_| plan_defaults());
    let preview = ServerAction::<PreviewPlan>::new();
    let create = ServerAction::<CreateCampaign>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = create.value().get() {
            navigate(&format!("/campaigns/{id}"), Default::default());
        }
    });
    let mode = RwSignal::new("older_than".to_string());
    view! {
        <Page title="Plan a rotation">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let d = match defaults.await {
                        Ok(d) => d,
                        Err(error) => return view! { <LoadError error /> }.into_any(),
                    };
                    view! {
                        <ActionForm action=preview attr:class=format!("{CARD} space-y-5")>
                            <label class=LABEL>"Campaign name"<input class=INPUT name="input[name]" required placeholder="Q1 production key rotation" /></label>
                            <fieldset class="space-y-3">
                                <legend class="text-sm font-medium text-slate-700">"Credentials"</legend>
                                <label class="flex items-center gap-2 text-sm">
                                    <input type="radio" name="input[mode]" value="older_than" checked on:change=move |_| mode.set("older_than".into()) />
                                    "All keys of an environment older than a number of days"
                                </label>
                                <div class="ml-6 flex flex-wrap gap-3" class:hidden=move || mode.get() != "older_than">
                                    <label class=LABEL>
                                        "Environment"
                                        <select class=INPUT name="input[environment]">
                                            {Environment::ALL.iter().map(|e| view! { <option value=e.as_str()>{e.label()}</option> }).collect_view()}
                                        </select>
                                    </label>
                                    <label class=LABEL>"Older than (days)"<input class=INPUT type="number" min="0" name="input[older_than_days]" value="90" /></label>
                                </div>
                                <label class="flex items-center gap-2 text-sm">
                                    <input type="radio" name="input[mode]" value="chosen" on:change=move |_| mode.set("chosen".into()) />
                                    "Chosen credentials"
                                </label>
                                <div class="ml-6 max-h-64 overflow-y-auto rounded border border-slate-200" class:hidden=move || mode.get() != "chosen">
                                    {d.credentials.into_iter().map(|c| view! {
                                        <label class="flex items-center gap-2 border-b border-slate-100 px-3 py-1.5 text-sm">
                                            <input type="checkbox" name="input[credentials][]" value=c.id.to_string() />
                                            <span class="font-medium">{c.consumer}</span>
                                            <span class="text-slate-500">{c.label}", "{c.environment}</span>
                                            <code class="font-mono text-xs">{c.prefix}"…"</code>
                                            <span class="ml-auto text-xs text-slate-400">{format!("{} days", c.age_days)}</span>
                                        </label>
                                    }).collect_view()}
                                </div>
                            </fieldset>
                            <fieldset>
                                <legend class="mb-2 text-sm font-medium text-slate-700">"Timeline (UTC)"</legend>
                                <div class="grid gap-3 sm:grid-cols-2 lg:grid-cols-4">
                                    <label class=LABEL>"Announcement"<input class=INPUT type="datetime-local" name="input[announce_at]" value=d.announce_at required /></label>
                                    <label class=LABEL>"New key available"<input class=INPUT type="datetime-local" name="input[new_key_at]" value=d.new_key_at required /></label>
                                    <label class=LABEL>"Deadline"<input class=INPUT type="datetime-local" name="input[deadline_at]" value=d.deadline_at required /></label>
                                    <label class=LABEL>"Grace period ends"<input class=INPUT type="datetime-local" name="input[grace_end_at]" value=d.grace_end_at required /></label>
                                </div>
                            </fieldset>
                            <fieldset>
                                <legend class="mb-2 text-sm font-medium text-slate-700">"Series"</legend>
                                <p class="mb-2 text-xs text-slate-500">"Each consumer gets the announcement, these reminders (and escalations to its escalation contact) while it has not migrated, a final notice on the deadline's day, a revocation notice when the grace period ends, and a confirmation once it has migrated. Every notice is reviewed and approved, then waits for its day and the consumer's send window."</p>
                                <div class="grid gap-3 sm:grid-cols-2">
                                    <label class=LABEL>"Reminders (days before the deadline)"<input class=INPUT name="input[reminder_days]" value=d.reminder_days /></label>
                                    <label class=LABEL>"Escalations (days before the deadline)"<input class=INPUT name="input[escalation_days]" value=d.escalation_days /></label>
                                </div>
                                <label class="mt-2 flex items-center gap-2 text-sm">
                                    <input type="checkbox" name="input[series]" value="announcement" />
                                    "The announcement alone (no reminders, escalations, final, revocation or confirmation)"
                                </label>
                                <label class=format!("{LABEL} mt-3")>"Send window for this campaign (blank: each consumer's own), e.g. Mon-Fri 10:00-16:00 in each consumer's time zone"
                                    <input class=INPUT name="input[send_window]" placeholder="each consumer's own" />
                                </label>
                            </fieldset>
                            {d.model.clone().map(|model| view! {
                                <fieldset>
                                    <legend class="mb-2 text-sm font-medium text-slate-700">"Announcements written by"</legend>
                                    <label class="flex items-center gap-2 text-sm">
                                        <input type="radio" name="input[drafter]" value="built_in" checked />
                                        "The built-in templates"
                                    </label>
                                    <label class="flex items-center gap-2 text-sm">
                                        <input type="radio" name="input[drafter]" value="model" />
                                        {format!("The language model {model}")}
                                    </label>
                                    <p class="mt-1 text-xs text-slate-500">"The model rewrites each consumer's announcement from the built-in draft and the consumer's integration. Every draft is checked (dates, links, key prefixes, secrets); one that fails twice leaves the built-in draft, with the model's attempt in the history. Reminders and escalations stay the templates'."</p>
                                </fieldset>
                            })}
                            <button class=BUTTON type="submit">"Preview affected consumers"</button>
                            <FormError value=preview.value() />
                        </ActionForm>
                    }.into_any()
                })}
            </Suspense>
            {move || preview.value().get().and_then(Result::ok).map(|p| view! { <PlanPreviewView preview=p create /> })}
        </Page>
    }
}

#[component]
fn PlanPreviewView(preview: PlanPreview, create: ServerAction<CreateCampaign>) -> impl IntoView {
    let input = preview.input.clone();
    let count = preview.consumers.len();
    view! {
        <section class=format!("{CARD} mt-6") aria-label="Preview">
            <h2 class="mb-1 text-lg font-semibold">{format!("{count} consumers affected")}</h2>
            <p class="mb-2 text-sm text-slate-600">{preview.selector.clone()}", deadline "{preview.deadline_utc.clone()}</p>
            <p class="mb-1 text-sm text-slate-600">"Each consumer's series: "{preview.series.join(" · ")}</p>
            <p class="mb-1 text-sm text-slate-600">{match &preview.send_window {
                Some(w) => format!("Every notice waits for {w} in its consumer's time zone."),
                None => "Every notice waits for its consumer's own send window.".to_string(),
            }}</p>
            <p class="mb-4 text-sm text-slate-600">{format!("Announcements written by {}.", preview.drafter)}</p>
            <div class="max-h-96 overflow-y-auto">
                <table class=TABLE>
                    <thead><tr><th class=TH>"Consumer"</th><th class=TH>"Integration"</th><th class=TH>"Keys"</th><th class=TH>"Notice goes to"</th><th class=TH>"Deadline, their time"</th></tr></thead>
                    <tbody class="divide-y divide-slate-100">
                        {preview.consumers.into_iter().map(|a| view! {
                            <tr>
                                <td class=TD>{a.name}</td>
                                <td class=TD>{a.pattern}</td>
                                <td class=format!("{TD} font-mono text-xs")>{a.prefixes.join(", ")}</td>
                                <td class=format!("{TD} text-xs")>{a.recipient.unwrap_or_else(|| "no contact: no notice".into())}</td>
                                <td class=format!("{TD} text-xs")>{a.deadline_local}<div class="text-slate-400">{a.time_zone}</div></td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <ActionForm action=create attr:class="mt-4">
                <input type="hidden" name="input[name]" value=input.name.clone() />
                <input type="hidden" name="input[mode]" value=input.mode.clone() />
                {input.credentials.iter().map(|c| view! { <input type="hidden" name="input[credentials][]" value=c.clone() /> }).collect_view()}
                <input type="hidden" name="input[environment]" value=input.environment.clone().unwrap_or_default() />
                <input type="hidden" name="input[older_than_days]" value=input.older_than_days.clone().unwrap_or_default() />
                <input type="hidden" name="input[announce_at]" value=input.announce_at.clone() />
                <input type="hidden" name="input[new_key_at]" value=input.new_key_at.clone() />
                <input type="hidden" name="input[deadline_at]" value=input.deadline_at.clone() />
                <input type="hidden" name="input[grace_end_at]" value=input.grace_end_at.clone() />
                <input type="hidden" name="input[reminder_days]" value=input.reminder_days.clone().unwrap_or_default() />
                <input type="hidden" name="input[escalation_days]" value=input.escalation_days.clone().unwrap_or_default() />
                <input type="hidden" name="input[series]" value=input.series.clone().unwrap_or_default() />
                <input type="hidden" name="input[send_window]" value=input.send_window.clone().unwrap_or_default() />
                <input type="hidden" name="input[drafter]" value=input.drafter.clone().unwrap_or_default() />
                <button class=BUTTON type="submit" disabled=move || create.pending().get()>{format!("Create campaign and draft the series for {count} consumers")}</button>
            </ActionForm>
            <FormError value=create.value() />
        </section>
    }
}

#[component]
pub fn CampaignPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let tick = RwSignal::new(0u32);
    let steer = ServerAction::<SteerCampaign>::new();
    let mark = ServerAction::<MarkMigrated>::new();
    let extend = ServerAction::<ExtendDeadline>::new();
    let view_data = Resource::new(
        move || {
            (
                params.with(|p| p.get("id").unwrap_or_default()),
                query.with(|q| q.get("tz").unwrap_or_default()),
                tick.get(),
                steer.version().get() + mark.version().get() + extend.version().get(),
            )
        },
        |(id, tz, _, _)| campaign(id, tz),
    );
    // While drafting, look again every half second.
    Effect::new(move |_| {
        if let Some(Ok(c)) = view_data.get()
            && c.state == "drafting"
        {
            set_timeout(
                move || tick.update(|t| *t += 1),
                std::time::Duration::from_millis(500),
            );
        }
    });
    view! {
        <Transition fallback=|| view! { <Page title="Campaign"><p>"Loading…"</p></Page> }>
            {move || Suspend::new(async move {
                match view_data.await {
                    Err(error) => view! { <Page title="Campaign"><LoadError error /></Page> }.into_any(),
                    Ok(c) => view! { <CampaignBody c steer mark extend /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CampaignBody(
    c: CampaignView,
    steer: ServerAction<SteerCampaign>,
    mark: ServerAction<MarkMigrated>,
    extend: ServerAction<ExtendDeadline>,
) -> impl IntoView {
    let drafting = c.state == "drafting";
    let percent = if c.consumers > 0 {
        c.drafted * 100 / c.consumers
    } else {
        100
    };
    let id = c.id;
    let me = use_me().0;
    let zone_names: Vec<String> = c.zones.iter().map(|z| z.zone.clone()).collect();
    view! {
        <Page title=c.name.clone()>
            <p class="mb-4 text-sm text-slate-600">{c.selector.clone()}" · "{format!("{} consumers", c.consumers)}" · "<span>{c.state_label.clone()}</span></p>
            <Steer id state=c.state.clone() model_drafting=c.model_progress.is_some() steer />
            // The audit trail's owner takes the campaign's evidence away, to verify offline.
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    let owns_audit = matches!(me.await, Ok(Some(p)) if p.may(rekey_core::identity::Permission::ViewAudit));
                    owns_audit.then(|| view! {
                        <p class="mb-4">
                            <a class=BUTTON_QUIET href=format!("/api/v1/campaigns/{id}/evidence") download>"Download evidence"</a>
                            <span class="ml-2 text-xs text-slate-500">"one tar file; run verify.py inside it, or rekey evidence verify"</span>
                        </p>
                    })
                })}
            </Suspense>
            {drafting.then(|| view! {
                <div class=format!("{CARD} mb-6") role="status" aria-label="Drafting progress">
                    <p class="mb-2 text-sm font-medium">{format!("Drafting notices: {} of {}", c.drafted, c.consumers)}</p>
                    <FillBar percent fill="fill-indigo-500" />
                </div>
            })}
            {c.model_progress.clone().map(|m| view! { <ModelDrafting m drafter=c.drafter.clone() /> })}
            <div class=format!("{CARD} mb-6")>
                <h2 class="mb-3 text-lg font-semibold">"Timeline"</h2>
                <TimelineSvg milestones=c.milestones.clone() now=c.now />
                <div class="mt-4 overflow-x-auto">
                    <table class=TABLE>
                        <thead><tr><th class=TH>"Time zone"</th>{c.milestones.iter().map(|(l, _, _)| view! { <th class=TH>{l.clone()}</th> }).collect_view()}</tr></thead>
                        <tbody class="divide-y divide-slate-100">
                            <tr><td class=format!("{TD} font-medium")>"UTC"</td>{c.milestones.iter().map(|(_, _, utc)| view! { <td class=format!("{TD} text-xs")>{utc.clone()}</td> }).collect_view()}</tr>
                            {c.zones.into_iter().map(|z| view! {
                                <tr><td class=format!("{TD} font-medium")>{z.zone}</td>{z.milestones.into_iter().map(|m| view! { <td class=format!("{TD} text-xs")>{m}</td> }).collect_view()}</tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            </div>
            <Progress id progress=c.progress mark extend />
            <SafeToRevoke credentials=c.revocation counts=c.revocation_counts />
            <Series id series=c.series send_window=c.send_window calendar=c.calendar on_migration=c.on_migration zone=c.calendar_zone zones=zone_names />
            <div class=CARD>
                <h2 class="mb-3 text-lg font-semibold">"Notices"</h2>
                <ul class="grid gap-3 sm:grid-cols-5" aria-label="Notices by state">
                    {c.counts.into_iter().map(|(state, n)| view! {
                        <li>
                            <a class="block rounded-md border border-slate-200 px-4 py-3 hover:bg-indigo-50" href=format!("/review?campaign={id}&state={}", state.as_str())>
                                <span class="block text-2xl font-bold">{n}</span>
                                <span class="text-sm text-slate-600">{state.label()}</span>
                            </a>
                        </li>
                    }).collect_view()}
                </ul>
                <p class="mt-4"><a class=BUTTON_QUIET href=format!("/review?campaign={id}")>"Open the review queue"</a></p>
            </div>
        </Page>
    }
}

/// How the model's drafting of the announcements went, or is going: done of total, its pace,
/// and how many fell back to the built-in draft.
#[component]
fn ModelDrafting(m: rekey_core::notices::views::ModelProgress, drafter: String) -> impl IntoView {
    let percent = if m.total > 0 {
        m.done * 100 / m.total
    } else {
        100
    };
    view! {
        <div class=format!("{CARD} mb-6") role="status" aria-label="Model drafting">
            <p class="mb-2 text-sm font-medium">{format!("Announcements by {drafter}: {} of {} done", m.done, m.total)}</p>
            <FillBar percent fill="fill-violet-500" />
            <dl class="mt-3 grid grid-cols-2 gap-x-4 gap-y-1 text-sm sm:grid-cols-5">
                <div><dt class="text-slate-500">"By the model"</dt><dd>{m.by_model}</dd></div>
                <div><dt class="text-slate-500">"Failures (built-in kept)"</dt><dd>{m.failures}</dd></div>
                <div><dt class="text-slate-500">"Cancelled"</dt><dd>{m.cancelled}</dd></div>
                <div><dt class="text-slate-500">"Notices per minute"</dt><dd>{format!("{:.1}", m.notices_per_minute)}</dd></div>
                <div><dt class="text-slate-500">"Tokens per second"</dt><dd>{format!("{:.1}", m.tokens_per_sec)}</dd></div>
            </dl>
        </div>
    }
}

/// Start a planned campaign, or pause, resume or cancel its sends, or stop the model's
/// drafting (engineers; the server refuses anyone else).
#[component]
fn Steer(
    id: i64,
    state: String,
    model_drafting: bool,
    steer: ServerAction<SteerCampaign>,
) -> impl IntoView {
    let button = move |action: Steering, label: &'static str| {
        view! {
            <ActionForm action=steer attr:class="inline">
                <input type="hidden" name="id" value=id />
                <input type="hidden" name="action" value=format!("{action:?}") />
                <button class=BUTTON_QUIET type="submit" disabled=move || steer.pending().get()>{label}</button>
            </ActionForm>
        }
    };
    let (start, pause, resume, cancel) = match state.as_str() {
        "planned" => (true, false, false, true),
        "active" => (false, true, false, true),
        "paused" => (false, false, true, true),
        "drafting" => (false, false, false, true),
        _ => (false, false, false, false),
    };
    view! {
        <div class="mb-4 flex flex-wrap items-center gap-2" aria-label="Steer the campaign" role="group">
            {start.then(|| view! {
                <p class="text-sm text-slate-600">"Planned: only the consumers drafted on request have notices, and none can be approved until the campaign starts."</p>
            })}
            {start.then(|| button(Steering::Start, "Start campaign"))}
            {pause.then(|| button(Steering::Pause, "Pause sends"))}
            {resume.then(|| button(Steering::Resume, "Resume sends"))}
            {(state == "drafting" && model_drafting).then(|| button(Steering::StopModel, "Stop the model's drafting"))}
            {cancel.then(|| button(Steering::Cancel, "Cancel campaign"))}
            <FormError value=steer.value() />
        </div>
    }
}

/// Each consumer's series, and the calendar of what goes out when, in a zone the viewer picks
/// (UTC or one of the campaign's consumers').
#[component]
fn Series(
    id: i64,
    series: Vec<String>,
    send_window: Option<String>,
    calendar: Vec<CalendarDay>,
    on_migration: i64,
    zone: String,
    zones: Vec<String>,
) -> impl IntoView {
    let choices: Vec<String> = std::iter::once("UTC".to_string())
        .chain(zones.into_iter().filter(|z| z != "UTC"))
        .collect();
    view! {
        <section class=format!("{CARD} mb-6") aria-label="Series">
            <h2 class="mb-2 text-lg font-semibold">"Series"</h2>
            <ol class="mb-4 flex flex-wrap gap-2 text-sm">
                {series.into_iter().map(|step| view! { <li class="rounded bg-slate-100 px-2 py-1">{step}</li> }).collect_view()}
            </ol>
            <p class="mb-3 text-sm text-slate-600">{match send_window {
                Some(w) => format!("Send window for every consumer: {w}, in its own time zone."),
                None => "Each notice waits for its consumer's own send window.".to_string(),
            }}</p>
            <form method="get" action=format!("/campaigns/{id}") class="mb-3 flex items-end gap-2">
                <label class=LABEL>"Calendar in"
                    <select class=INPUT name="tz">
                        {choices.into_iter().map(|z| {
                            let selected = z == zone;
                            view! { <option value=z.clone() selected=selected>{z.clone()}</option> }
                        }).collect_view()}
                    </select>
                </label>
                <button class=BUTTON_QUIET type="submit">"Show"</button>
            </form>
            <table class=TABLE aria-label="Calendar">
                <thead><tr><th class=TH>{format!("Day ({zone})")}</th><th class=TH>"Due"</th></tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {calendar.into_iter().map(|d| view! {
                        <tr>
                            <td class=format!("{TD} font-mono text-xs")>{d.day}</td>
                            <td class=format!("{TD} text-sm")>{d.counts.iter().map(|(kind, n)| format!("{n} {}", kind.label().to_lowercase())).collect::<Vec<_>>().join(", ")}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            {(on_migration > 0).then(|| view! {
                <p class="mt-2 text-sm text-slate-600">{format!("{on_migration} confirmations go as each consumer migrates.")}</p>
            })}
            <p class="mt-2 text-xs text-slate-500">"Reminders, escalations, the final and the revocation notice go only to consumers that have not migrated when they are due; each waits for its consumer's send window."</p>
        </section>
    }
}

/// The burn-down and the consumers that have not migrated yet, most at risk first, each of
/// which an engineer may mark migrated by hand with a reason.
#[component]
fn Progress(
    id: i64,
    progress: CampaignProgress,
    mark: ServerAction<MarkMigrated>,
    extend: ServerAction<ExtendDeadline>,
) -> impl IntoView {
    let CampaignProgress {
        total,
        migrated,
        burn_down,
        unmigrated,
        marked_by_hand,
        as_of,
    } = progress;
    view! {
        <div class="mb-6 grid gap-6 lg:grid-cols-3">
            <section class=format!("{CARD} lg:col-span-2") aria-label="Migration">
                <h2 class="mb-3 text-lg font-semibold">{format!("Migrated: {migrated} of {total}")}</h2>
                <BurnDownSvg burn_down />
            </section>
            <section class=CARD aria-label="Not migrated yet">
                <h2 class="mb-3 text-lg font-semibold">"Not migrated yet"</h2>
                {if unmigrated.is_empty() {
                    view! { <p class="text-sm text-slate-500">"Every consumer has moved to its new key."</p> }.into_any()
                } else {
                    view! {
                        <ul class="max-h-80 space-y-2 overflow-auto text-sm">
                            {unmigrated.into_iter().map(|c| {
                                let mark_label = format!("Mark {} migrated by hand", c.name);
                                let reason_label = format!("Reason {} has migrated", c.name);
                                let extend_label = format!("Give {} more time", c.name);
                                let deadline_label = format!("New deadline for {} (UTC)", c.name);
                                let standing = c.standing(as_of).join(" · ");
                                view! {
                                <li>
                                    <a class="font-medium text-indigo-700 hover:underline" href=format!("/consumers/{}", c.consumer)>{c.name}</a>
                                    {c.delivery_failed.then(|| view! { <span class="ml-2"><Badge text="delivery failed" tone=Tone::Bad /></span> })}
                                    <div class="text-xs text-slate-500">
                                        {standing}
                                    </div>
                                    <details class="text-xs">
                                        <summary class="cursor-pointer text-slate-500">{mark_label}</summary>
                                        <ActionForm action=mark attr:class="mt-1 flex gap-2">
                                            <input type="hidden" name="campaign" value=id />
                                            <input type="hidden" name="consumer" value=c.consumer.get() />
                                            <input class=INPUT name="reason" required placeholder="How you know (e.g. confirmed on a call)" aria-label=reason_label />
                                            <button class=BUTTON_QUIET type="submit">"Mark migrated"</button>
                                        </ActionForm>
                                    </details>
                                    <details class="text-xs">
                                        <summary class="cursor-pointer text-slate-500">{extend_label}</summary>
                                        <ActionForm action=extend attr:class="mt-1 flex flex-wrap gap-2">
                                            <input type="hidden" name="campaign" value=id />
                                            <input type="hidden" name="consumer" value=c.consumer.get() />
                                            <input class=INPUT type="datetime-local" name="deadline_at" required aria-label=deadline_label />
                                            <input class=INPUT name="reason" required placeholder="Why (e.g. release freeze until the 20th)" />
                                            <button class=BUTTON_QUIET type="submit">"Extend and redraft"</button>
                                        </ActionForm>
                                    </details>
                                </li>
                            }}).collect_view()}
                        </ul>
                    }.into_any()
                }}
                <FormError value=mark.value() />
                <FormError value=extend.value() />
                {(!marked_by_hand.is_empty()).then(|| view! {
                    <h3 class="mb-2 mt-4 text-sm font-semibold">"Marked migrated by hand"</h3>
                    <ul class="space-y-1 text-sm" aria-label="Marked migrated by hand">
                        {marked_by_hand.into_iter().map(|c| view! {
                            <li>
                                <a class="font-medium text-indigo-700 hover:underline" href=format!("/consumers/{}", c.consumer)>{c.name}</a>
                                <span class="ml-2"><Badge text="marked by hand" tone=Tone::Warn /></span>
                                <div class="text-xs text-slate-500">{format!("{}: {}", c.migrated_at.map(|t| t.utc_minute()).unwrap_or_default(), c.marked_by_hand.unwrap_or_default())}</div>
                            </li>
                        }).collect_view()}
                    </ul>
                })}
            </section>
        </div>
    }
}

/// Whether each credential the campaign rotates can be revoked now: the answer the key-issuing
/// system gets from `GET /api/v1/credentials/{id}/revocation`.
#[component]
fn SafeToRevoke(
    credentials: Vec<rekey_core::inventory::views::RevocationSafety>,
    counts: (usize, usize),
) -> impl IntoView {
    let (safe, total) = counts;
    let hidden = total - credentials.len();
    view! {
        <section class=format!("{CARD} mb-6") aria-label="Revocation">
            <h2 class="mb-3 text-lg font-semibold">{format!("Safe to revoke: {safe} of {total} credentials")}</h2>
            <table class=TABLE>
                <thead><tr><th class=TH>"Credential"</th><th class=TH>"Status"</th><th class=TH>"Revocation"</th></tr></thead>
                <tbody class="divide-y divide-slate-100">
                    {credentials.into_iter().map(|r| {
                        let verdict = match (r.safe, r.blocking.first(), &r.overridden) {
                            (true, None, _) => "safe".to_string(),
                            (true, Some(b), _) => format!("safe by an approved override; {} still uses it", b.name),
                            (false, Some(b), Some(_)) => format!("unsafe: {} still uses it; an override waits for approval", b.name),
                            (false, Some(b), None) => format!("unsafe: {} still uses it", b.name),
                            (false, None, _) => "unsafe".to_string(),
                        };
                        view! {
                            <tr>
                                <td class=format!("{TD} font-mono text-xs")>{r.credential.to_string()}</td>
                                <td class=TD>{r.status.label()}</td>
                                <td class=TD><Badge text=verdict tone=if r.safe { Tone::Good } else { Tone::Warn } /></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            {(hidden > 0).then(|| view! { <p class="mt-2 text-xs text-slate-500">{format!("{hidden} more not listed; the unsafe come first.")}</p> })}
        </section>
    }
}
