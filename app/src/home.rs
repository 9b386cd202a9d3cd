//! The home page, the approval dashboard: what needs the signed-in person now, by what their
//! role does (approvers: notices waiting for approval, due first, and overrides to decide;
//! engineers: drafts failing their checks, failed deliveries and consumers at risk; the
//! security lead: leak alerts, overrides and the audit chain), the running campaigns with
//! their migration at a glance, and what goes out in the next 24 hours.

use leptos::prelude::*;
use rekey_core::notices::NoticeState;
use rekey_core::notices::views::{
    AtRisk, Attention, CampaignGlance, ChainGlance, NoticeList, OverrideLine,
};

use crate::access;
use crate::auth::use_me;
use crate::components::{Badge, CARD, FillBar, LoadError, Page, Tone};
use crate::error::AppError;
use crate::review::state_tone;

#[cfg(feature = "ssr")]
use crate::auth::session;

/// What needs the caller now. A person who must first enrol TOTP or change their password
/// sees nothing of it until they have.
#[server(endpoint = "home/needs_attention")]
pub async fn needs_attention() -> Result<Attention, AppError> {
    let (who, caller) = session::authorize::<NeedsAttention>().await?;
    if caller.hold.is_some() {
        return Ok(Attention::default());
    }
    let rk = session::rekey()?;
    Ok(rekey_core::notices::queue::attention(&rk.db, &who, rk.now()).await?)
}

#[component]
pub fn HomePage() -> impl IntoView {
    let me = use_me().0;
    let attention = Resource::new(|| (), |_| needs_attention());
    view! {
        <Page title="Home">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match me.await {
                        Err(error) => view! { <LoadError error /> }.into_any(),
                        Ok(None) => view! { <LoadError error=AppError::SignInRequired /> }.into_any(),
                        Ok(Some(me)) => {
                            let links = access::nav_for(me.role, me.hold);
                            view! {
                                <div class=CARD>
                                    <p class="text-lg">"Welcome, "<span class="font-semibold">{me.display_name.clone()}</span>"."</p>
                                    <p class="mt-1 text-sm text-slate-600">"You are signed in as "{me.role.label().to_lowercase()}"."</p>
                                    {me.hold.map(|hold| view! {
                                        <p role="alert" class="mt-4 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
                                            {match hold {
                                                access::Hold::EnrolTotp => "Your role requires TOTP. ",
                                                access::Hold::ChangePassword => "An admin chose the password you signed in with; choose your own. ",
                                            }}
                                            <a class="font-medium underline" href="/account">"Go to your account page"</a>" to continue."
                                        </p>
                                    })}
                                    <ul class="mt-6 grid gap-3 sm:grid-cols-2 lg:grid-cols-3">
                                        {links.into_iter().filter(|(_, href)| *href != "/").map(|(label, href)| view! {
                                            <li><a class="block rounded-md border border-slate-200 px-4 py-3 font-medium text-indigo-700 hover:bg-indigo-50" href=href>{label}</a></li>
                                        }).collect_view()}
                                    </ul>
                                </div>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match attention.await {
                        Err(error) => view! { <LoadError error /> }.into_any(),
                        Ok(attention) => view! { <Dashboard attention /> }.into_any(),
                    }
                })}
            </Suspense>
        </Page>
    }
}

#[component]
fn Dashboard(attention: Attention) -> impl IntoView {
    let Attention {
        awaiting_approval,
        failing_checks,
        delivery_failed,
        campaigns,
        at_risk,
        leaks,
        overrides,
        chain,
        next_day,
    } = attention;
    view! {
        <div class="mt-6 grid gap-6 lg:grid-cols-2">
            {awaiting_approval.map(|list| view! {
                <Notices title="Waiting for your approval" empty="Nothing waits for your approval." more="/review?state=in_review" list />
            })}
            {failing_checks.map(|list| view! {
                <Notices title="Failing their checks" empty="Every draft passes its checks." more="/review?checks=failing" list />
            })}
            {delivery_failed.map(|list| view! {
                <Notices title="Delivery failed" empty="No delivery has failed." more="/review?state=failed" list />
            })}
            {at_risk.map(|at_risk| view! { <AtRiskList at_risk /> })}
            {leaks.map(|list| view! {
                <Notices title="Leak alerts" empty="No leak alert waits." more="/review?kind=leak_alert" list />
            })}
            {overrides.map(|overrides| view! { <Overrides overrides /> })}
            {chain.map(|chain| view! { <Chain chain /> })}
            {(!campaigns.is_empty()).then(|| view! { <Campaigns campaigns /> })}
            <NextDay next_day />
        </div>
    }
}

/// Consumers of running campaigns an engineer should look at, most at risk first.
#[component]
fn AtRiskList(at_risk: Vec<AtRisk>) -> impl IntoView {
    view! {
        <section class=CARD aria-label="Consumers at risk">
            <h2 class="mb-3 text-lg font-semibold">"Consumers at risk"</h2>
            {if at_risk.is_empty() {
                view! { <p class="text-sm text-slate-500">"Every consumer of a running campaign has migrated."</p> }.into_any()
            } else {
                view! {
                    <ul class="space-y-2 text-sm">
                        {at_risk.into_iter().map(|c| view! {
                            <li>
                                <a class="font-medium text-indigo-700 hover:underline" href=format!("/consumers/{}", c.consumer)>{c.name}</a>
                                <span class="ml-2 text-slate-500">{c.why}</span>
                                <a class="ml-2 text-xs text-slate-400 hover:underline" href=format!("/campaigns/{}", c.campaign)>{c.campaign_name.to_string()}</a>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

/// Overrides of the revocation safeguard: waiting for a second person, or approved.
#[component]
fn Overrides(overrides: Vec<OverrideLine>) -> impl IntoView {
    view! {
        <section class=CARD aria-label="Revocation overrides">
            <h2 class="mb-3 text-lg font-semibold">"Revocation overrides"</h2>
            {if overrides.is_empty() {
                view! { <p class="text-sm text-slate-500">"Nobody has asked to revoke a key still in use."</p> }.into_any()
            } else {
                view! {
                    <ul class="space-y-2 text-sm">
                        {overrides.into_iter().map(|o| view! {
                            <li>
                                <a class="font-mono text-xs text-indigo-700 hover:underline" href=format!("/consumers/{}", o.consumer)>{o.credential}</a>
                                <span class="ml-2">{if o.approved {
                                    view! { <Badge text="approved" tone=Tone::Warn /> }
                                } else {
                                    view! { <Badge text="waits for a second person" tone=Tone::Bad /> }
                                }}</span>
                                <div class="text-xs text-slate-500">{format!("{} asked {}: {}", o.requested_by, o.requested_at.utc_minute(), o.reason)}</div>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}

/// The audit chain's head and the last checkpoint that vouches for it.
#[component]
fn Chain(chain: ChainGlance) -> impl IntoView {
    let line = match chain.checkpoint {
        Some((number, entry, at)) => format!(
            "{} entries; checkpoint {number} signed {} vouches for entries 1 to {entry} ({} since).",
            chain.head,
            at.utc_minute(),
            chain.head - entry
        ),
        None => format!("{} entries; no checkpoint signed yet.", chain.head),
    };
    view! {
        <section class=CARD aria-label="Audit chain">
            <h2 class="mb-3 text-lg font-semibold">"Audit chain"</h2>
            <p class="text-sm text-slate-700">{line}</p>
            <a class="mt-2 inline-block text-sm text-indigo-700 hover:underline" href="/audit">"Verify it on the audit page"</a>
        </section>
    }
}

/// What goes out in the next 24 hours, by kind.
#[component]
fn NextDay(next_day: Vec<(rekey_core::notices::NoticeKind, i64)>) -> impl IntoView {
    let line = if next_day.is_empty() {
        "Nothing approved goes out in the next 24 hours.".to_string()
    } else {
        next_day
            .iter()
            .map(|(kind, n)| format!("{n} {}", kind.label().to_lowercase()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    view! {
        <section class=CARD aria-label="Next 24 hours">
            <h2 class="mb-3 text-lg font-semibold">"Next 24 hours"</h2>
            <p class="text-sm text-slate-700">{line}</p>
        </section>
    }
}

/// One list of notices, oldest first, with a link to the rest in the review queue.
#[component]
fn Notices(
    title: &'static str,
    empty: &'static str,
    more: &'static str,
    list: NoticeList,
) -> impl IntoView {
    let shown = list.rows.len() as i64;
    view! {
        <section class=CARD aria-label=title>
            <h2 class="mb-3 text-lg font-semibold">{title}</h2>
            {if list.rows.is_empty() {
                view! { <p class="text-sm text-slate-500">{empty}</p> }.into_any()
            } else {
                view! {
                    <ul class="space-y-2 text-sm">
                        {list.rows.into_iter().map(|n| view! {
                            <li class="flex flex-wrap items-center gap-2">
                                <a class="font-medium text-indigo-700 hover:underline" href=format!("/review/{}", n.id)>
                                    {format!("#{} to {}", n.id, n.addressee.name())}
                                </a>
                                <span class="text-slate-500">{format!("{} · {} · v{}", n.campaign_name, n.step, n.version)}</span>
                                {n.due_at.map(|due| view! { <span class="text-xs font-medium text-slate-700">{format!("due {}", due.utc_minute())}</span> })}
                                <Badge text=n.state.label() tone=state_tone(n.state) />
                                {if n.checks_passed {
                                    view! { <Badge text="checks pass" tone=Tone::Good /> }
                                } else {
                                    view! { <Badge text="checks fail" tone=Tone::Bad /> }
                                }}
                                <span class="text-xs text-slate-400">{format!("since {}", n.updated_at.utc_minute())}</span>
                            </li>
                        }).collect_view()}
                    </ul>
                    {(list.total > shown).then(|| view! {
                        <a class="mt-3 inline-block text-sm text-indigo-700 hover:underline" href=more>
                            {format!("All {} in the review queue", list.total)}
                        </a>
                    })}
                }.into_any()
            }}
        </section>
    }
}

/// The latest campaigns with their notices by state.
#[component]
fn Campaigns(campaigns: Vec<CampaignGlance>) -> impl IntoView {
    view! {
        <section class=CARD aria-label="Campaigns">
            <h2 class="mb-3 text-lg font-semibold">"Campaigns"</h2>
            <ul class="space-y-3 text-sm">
                {campaigns.into_iter().map(|c| view! {
                    <li>
                        <a class="font-medium text-indigo-700 hover:underline" href=format!("/campaigns/{}", c.id)>{c.name.to_string()}</a>
                        <span class="ml-2 text-xs text-slate-500">{format!("deadline {}", c.deadline.utc_minute())}</span>
                        <div class="mt-1 text-xs text-slate-600">{format!("Migrated: {} of {}", c.migrated, c.consumers)}</div>
                        <FillBar percent={ if c.consumers > 0 { c.migrated * 100 / c.consumers } else { 0 } } fill="fill-emerald-500" />
                        <div class="mt-1 flex flex-wrap gap-2">
                            {c.counts.into_iter().filter(|(_, n)| *n > 0).map(|(state, n): (NoticeState, i64)| view! {
                                <Badge text=format!("{n} {}", state.label().to_lowercase()) tone=state_tone(state) />
                            }).collect_view()}
                        </div>
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
}
