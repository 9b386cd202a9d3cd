//! The home page: what needs the signed-in person now, by what their role does (approvers:
//! notices waiting for approval; engineers: drafts failing their checks and failed
//! deliveries), and the latest campaigns at a glance.

use leptos::prelude::*;
use rekey_core::notices::NoticeState;
use rekey_core::notices::views::{Attention, CampaignGlance, NoticeList};

use crate::access;
use crate::auth::use_me;
use crate::components::{Badge, CARD, LoadError, Page, Tone};
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
    Ok(rekey_core::notices::queue::attention(&rk.db, &who).await?)
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
            {(!campaigns.is_empty()).then(|| view! { <Campaigns campaigns /> })}
        </div>
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
                                    {format!("#{} to {}", n.id, n.consumer_name)}
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
