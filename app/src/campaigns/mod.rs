//! Rotation campaigns: list, plan (with a preview of who is affected), and follow.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};
use rekey_core::inventory::Environment;
use rekey_core::notices::NoticeState;
use serde::{Deserialize, Serialize};

use crate::auth::use_me;
use crate::components::{
    BUTTON, BUTTON_QUIET, Badge, CARD, FillBar, FormError, INPUT, LABEL, LoadError, Page, TABLE,
    TD, TH, Tone,
};
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

mod timeline;

pub use timeline::TimelineSvg;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignRow {
    pub id: i64,
    pub name: String,
    pub state: String,
    pub selector: String,
    pub deadline: String,
    pub consumers: i64,
}

#[server(endpoint = "campaigns/list")]
pub async fn campaigns() -> Result<Vec<CampaignRow>, AppError> {
    session::authorize::<Campaigns>().await?;
    let rk = session::rekey()?;
    Ok(rekey_core::notices::campaigns::list(&rk.db)
        .await?
        .into_iter()
        .map(|c| CampaignRow {
            id: c.id.get(),
            name: c.name.to_string(),
            state: c.state.to_string(),
            selector: c.selector,
            deadline: c.timeline.deadline().utc_minute(),
            consumers: c.consumers,
        })
        .collect())
}

/// A credential to choose for a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialChoice {
    pub id: i64,
    pub consumer: String,
    pub label: String,
    pub environment: String,
    pub prefix: String,
    pub age_days: i64,
}

/// What the form starts with: a sensible timeline from now, in UTC, as `datetime-local` values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStart {
    pub announce_at: String,
    pub new_key_at: String,
    pub deadline_at: String,
    pub grace_end_at: String,
    pub credentials: Vec<CredentialChoice>,
}

#[cfg(feature = "ssr")]
fn local_input(ts: rekey_core::clock::Timestamp) -> String {
    ts.to_jiff().strftime("%Y-%m-%dT%H:%M").to_string()
}

#[server(endpoint = "campaigns/plan_defaults")]
pub async fn plan_defaults() -> Result<PlanStart, AppError> {
    use rekey_core::inventory::store as inventory;
    session::authorize::<PlanDefaults>().await?;
    let rk = session::rekey()?;
    let now = rk.now();
    // Next full hour.
    let start = rekey_core::clock::Timestamp::from_secs((now.as_secs() / 3600 + 1) * 3600);
    let credentials = inventory::credentials_older_than(&rk.db, Environment::Production, now)
        .await?
        .into_iter()
        .chain(inventory::credentials_older_than(&rk.db, Environment::Staging, now).await?)
        .take(500)
        .map(|s| CredentialChoice {
            id: s.credential.id.get(),
            consumer: s.consumer_name,
            label: s.credential.label,
            environment: s.credential.environment.label().into(),
            prefix: s.credential.prefix.to_string(),
            age_days: s.credential.created_at.days_until(now),
        })
        .collect();
    Ok(PlanStart {
        announce_at: local_input(start),
        new_key_at: local_input(start.plus_secs(2 * 86_400)),
        deadline_at: local_input(start.plus_secs(14 * 86_400)),
        grace_end_at: local_input(start.plus_secs(21 * 86_400)),
        credentials,
    })
}

/// The campaign form as submitted, echoed back by the preview so the confirmation sends
/// exactly what was previewed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanInput {
    pub name: String,
    /// `chosen` or `older_than`.
    pub mode: String,
    #[serde(default)]
    pub credentials: Vec<String>,
    pub environment: Option<String>,
    pub older_than_days: Option<String>,
    pub announce_at: String,
    pub new_key_at: String,
    pub deadline_at: String,
    pub grace_end_at: String,
}

#[cfg(feature = "ssr")]
mod parse {
    use rekey_core::clock::Timestamp;
    use rekey_core::notices::Timeline;
    use rekey_core::notices::campaigns::{CampaignName, Selection};

    use super::PlanInput;
    use crate::error::AppError;

    fn instant(field: &str, raw: &str) -> Result<Timestamp, AppError> {
        let dt: jiff::civil::DateTime = raw.trim().parse().map_err(|_| {
            AppError::invalid(
                field,
                format!("'{raw}' is not a date and time (YYYY-MM-DDTHH:MM, UTC)"),
            )
        })?;
        let ts = dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map_err(|_| AppError::invalid(field, format!("'{raw}' is out of range")))?
            .timestamp();
        Ok(Timestamp::from_jiff(ts))
    }

    pub fn plan(input: &PlanInput) -> Result<(CampaignName, Selection, Timeline), AppError> {
        let name = CampaignName::parse(&input.name)?;
        let selection = match input.mode.as_str() {
            "chosen" => Selection::Chosen(
                input
                    .credentials
                    .iter()
                    .map(|c| c.parse())
                    .collect::<Result<_, _>>()?,
            ),
            "older_than" => {
                let environment = input.environment.as_deref().unwrap_or_default().parse()?;
                let raw = input.older_than_days.as_deref().unwrap_or_default().trim();
                let days = raw
                    .parse::<u32>()
                    .ok()
                    .filter(|d| *d <= 3650)
                    .ok_or_else(|| {
                        AppError::invalid(
                            "older_than_days",
                            format!("'{raw}' is not a number of days from 0 to 3650"),
                        )
                    })?;
                Selection::OlderThan { environment, days }
            }
            other => {
                return Err(AppError::invalid(
                    "mode",
                    format!("'{other}' is not a way to choose credentials"),
                ));
            }
        };
        let timeline = Timeline::new(
            instant("announce_at", &input.announce_at)?,
            instant("new_key_at", &input.new_key_at)?,
            instant("deadline_at", &input.deadline_at)?,
            instant("grace_end_at", &input.grace_end_at)?,
        )?;
        Ok((name, selection, timeline))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedRow {
    pub name: String,
    pub pattern: String,
    pub time_zone: String,
    pub prefixes: Vec<String>,
    pub recipient: Option<String>,
    /// The deadline in the consumer's own zone.
    pub deadline_local: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPreview {
    pub input: PlanInput,
    pub selector: String,
    pub deadline_utc: String,
    pub consumers: Vec<AffectedRow>,
}

#[server(endpoint = "campaigns/preview")]
pub async fn preview_plan(input: PlanInput) -> Result<PlanPreview, AppError> {
    session::authorize::<PreviewPlan>().await?;
    let rk = session::rekey()?;
    let (_, selection, timeline) = parse::plan(&input)?;
    let affected = rekey_core::notices::campaigns::preview(&rk.db, &selection, rk.now()).await?;
    Ok(PlanPreview {
        selector: selection.describe(),
        deadline_utc: timeline.deadline().utc_minute(),
        consumers: affected
            .into_iter()
            .map(|a| {
                Ok(AffectedRow {
                    deadline_local: timeline.deadline().in_zone(&a.time_zone)?,
                    name: a.name,
                    pattern: a.pattern.label().into(),
                    time_zone: a.time_zone,
                    prefixes: a.prefixes,
                    recipient: a.recipient,
                })
            })
            .collect::<Result<_, rekey_core::error::Error>>()?,
        input,
    })
}

#[server(endpoint = "campaigns/create")]
pub async fn create_campaign(input: PlanInput) -> Result<i64, AppError> {
    use rekey_core::notices::campaigns::{self, NewCampaign};
    let (who, _) = session::authorize::<CreateCampaign>().await?;
    let rk = session::rekey()?;
    let (name, selection, timeline) = parse::plan(&input)?;
    let id = campaigns::create(
        &rk,
        &who,
        NewCampaign {
            name,
            selection,
            timeline,
        },
    )
    .await?;
    campaigns::spawn_drafting(rk, id);
    Ok(id.get())
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneRow {
    pub zone: String,
    pub milestones: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignView {
    pub id: i64,
    pub name: String,
    pub state: String,
    pub selector: String,
    pub consumers: i64,
    pub drafted: i64,
    /// (label, instant µs, UTC text) per milestone.
    pub milestones: Vec<(String, i64, String)>,
    pub now: i64,
    pub zones: Vec<ZoneRow>,
    pub counts: Vec<(NoticeState, i64)>,
}

#[server(endpoint = "campaigns/get")]
pub async fn campaign(id: String) -> Result<CampaignView, AppError> {
    use rekey_core::notices::campaigns;
    session::authorize::<Campaign>().await?;
    let rk = session::rekey()?;
    let c = campaigns::get(&rk.db, id.parse()?).await?;
    let zones = campaigns::time_zones(&rk.db, c.id).await?;
    let milestones = c.timeline.milestones();
    Ok(CampaignView {
        id: c.id.get(),
        zones: zones
            .into_iter()
            .map(|zone| ZoneRow {
                milestones: milestones
                    .iter()
                    .map(|(_, at)| {
                        at.in_zone(&zone).unwrap_or_else(|e| {
                            // Said on the page and logged; never quietly UTC.
                            tracing::error!(error = %e, "a consumer's time zone is unknown");
                            e.to_string()
                        })
                    })
                    .collect(),
                zone,
            })
            .collect(),
        milestones: milestones
            .iter()
            .map(|(label, at)| (label.to_string(), at.as_micros(), at.utc_minute()))
            .collect(),
        now: rk.now().as_micros(),
        counts: campaigns::counts(&rk.db, c.id).await?,
        name: c.name.to_string(),
        state: c.state.to_string(),
        selector: c.selector,
        consumers: c.consumers,
        drafted: c.drafted,
    })
}

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
            <p class="mb-4 text-sm text-slate-600">{preview.selector.clone()}", deadline "{preview.deadline_utc.clone()}</p>
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
                <button class=BUTTON type="submit" disabled=move || create.pending().get()>{format!("Create campaign and draft {count} notices")}</button>
            </ActionForm>
            <FormError value=create.value() />
        </section>
    }
}

#[component]
pub fn CampaignPage() -> impl IntoView {
    let params = use_params_map();
    let tick = RwSignal::new(0u32);
    let view_data = Resource::new(
        move || (params.with(|p| p.get("id").unwrap_or_default()), tick.get()),
        |(id, _)| campaign(id),
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
                    Ok(c) => view! { <CampaignBody c /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn CampaignBody(c: CampaignView) -> impl IntoView {
    let drafting = c.state == "drafting";
    let percent = if c.consumers > 0 {
        c.drafted * 100 / c.consumers
    } else {
        100
    };
    let id = c.id;
    view! {
        <Page title=c.name.clone()>
            <p class="mb-4 text-sm text-slate-600">{c.selector.clone()}" · "{format!("{} consumers", c.consumers)}</p>
            {drafting.then(|| view! {
                <div class=format!("{CARD} mb-6") role="status" aria-label="Drafting progress">
                    <p class="mb-2 text-sm font-medium">{format!("Drafting notices: {} of {}", c.drafted, c.consumers)}</p>
                    <FillBar percent fill="fill-indigo-500" />
                </div>
            })}
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
