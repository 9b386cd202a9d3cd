//! The landing page after sign-in.

use leptos::prelude::*;

use crate::access;
use crate::auth::use_me;
use crate::components::{CARD, LoadError, Page};
use crate::error::AppError;

#[component]
pub fn HomePage() -> impl IntoView {
    let me = use_me().0;
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
        </Page>
    }
}
