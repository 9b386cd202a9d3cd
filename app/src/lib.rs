//! Rekey's web front end: Leptos pages, components and server functions, grouped by feature.
//! Rendered on the server and hydrated in the browser from the same code.

#![recursion_limit = "256"]

pub mod access;
pub mod account;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod campaigns;
pub mod components;
pub mod consumers;
pub mod error;
mod home;
pub mod mailbox;
pub mod review;
pub mod vault;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::path;

use crate::auth::CurrentUser;

/// The HTML document around the app.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    content_security_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 antialiased">
                <App />
            </body>
        </html>
    }
}

/// The page's Content Security Policy: scripts only from Rekey itself or with this response's
/// nonce (Leptos puts it on its hydration script), styles and images only from Rekey (images
/// also as `data:` URIs, so a notice preview never loads a remote image), no framing.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    use axum::http::{HeaderValue, header};
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    let policy = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; \
         form-action 'self'; object-src 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Blocking: the page waits for the signed-in person before its first byte. The header and
    // most pages read it in their own <Suspense>; one pending resource read by two Suspense
    // boundaries can leave a streamed response open forever (leptos#4851, seen here as a rare
    // 120 s test timeout). Loaded first, it is never pending when a boundary reads it.
    let me = Resource::new_blocking(|| (), |_| auth::me());
    provide_context(CurrentUser(me));

    view! {
        <Stylesheet id="leptos" href="/pkg/rekey.css" />
        <Title text="Rekey" />
        <Router>
            <Header />
            <main>
                <Routes fallback=NotFound>
                    <Route path=path!("/login") view=auth::LoginPage />
                    <Route path=path!("/") view=home::HomePage />
                    <Route path=path!("/account") view=account::AccountPage />
                    <Route path=path!("/consumers") view=consumers::ConsumersPage />
                    <Route path=path!("/consumers/import") view=consumers::ImportPage />
                    <Route path=path!("/credentials") view=consumers::LifecyclePage />
                    <Route path=path!("/consumers/:id") view=consumers::ConsumerPage />
                    <Route path=path!("/campaigns") view=campaigns::CampaignsPage />
                    <Route path=path!("/campaigns/new") view=campaigns::NewCampaignPage />
                    <Route path=path!("/campaigns/:id") view=campaigns::CampaignPage />
                    <Route path=path!("/review") view=review::ReviewPage />
                    <Route path=path!("/review/:id") view=review::NoticePage />
                    <Route path=path!("/mailbox") view=mailbox::MailboxPage />
                    <Route path=path!("/mailbox/:id") view=mailbox::MailPage />
                    <Route path=path!("/audit") view=audit::AuditTrailPage />
                    <Route path=path!("/audit/:seq") view=audit::AuditEntryPage />
                    <Route path=path!("/admin/users") view=admin::users::UsersPage />
                    <Route path=path!("/admin/agents") view=admin::agents::AgentsPage />
                    <Route path=path!("/admin/settings") view=admin::settings::SettingsPage />
                    <Route path=path!("/vault") view=vault::VaultPage />
                    <Route path=path!("/admin/vault") view=vault::admin::VaultAdminPage />
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn Header() -> impl IntoView {
    let me = auth::use_me().0;
    let location = use_location();
    view! {
        <header class="bg-slate-900 text-white">
            <div class="mx-auto flex max-w-6xl items-center gap-6 px-4 py-3">
                <a href="/" class="text-lg font-bold tracking-tight">"Rekey"</a>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let Ok(Some(me)) = me.await else { return None };
                        let links = access::nav_for(me.role, me.hold);
                        Some(view! {
                            <nav aria-label="Main" class="flex flex-1 flex-wrap gap-1">
                                {links.into_iter().map(|(label, href)| {
                                    let active = move || {
                                        let path = location.pathname.get();
                                        if href == "/" { path == "/" } else { path.starts_with(href) }
                                    };
                                    view! {
                                        <A href=href attr:class=move || if active() {
                                            "rounded-md bg-slate-700 px-3 py-1.5 text-sm font-medium text-white"
                                        } else {
                                            "rounded-md px-3 py-1.5 text-sm font-medium text-slate-300 hover:bg-slate-700 hover:text-white"
                                        }>{label}</A>
                                    }
                                }).collect_view()}
                            </nav>
                            <div class="flex items-center gap-3">
                                <A href="/account" attr:class="text-right text-sm leading-tight text-slate-200 hover:text-white">
                                    <span class="block font-medium">{me.display_name.clone()}</span>
                                    <span class="block text-xs text-slate-400">{me.role.label()}</span>
                                </A>
                                <auth::SignOut />
                            </div>
                        })
                    })}
                </Suspense>
            </div>
        </header>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    crate::error::set_response_status(404);
    view! {
        <components::Page title="Not found">
            <p class="text-slate-600">"There is no page here. "<a class="text-indigo-700 underline" href="/">"Go home"</a></p>
        </components::Page>
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
    // Lets end-to-end tests (and curious people) tell a hydrated page from server HTML.
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
