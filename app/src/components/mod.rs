//! Small pieces every feature uses: the page frame, form errors, status badges, and the
//! Tailwind class sets that keep the screens consistent.

use leptos::prelude::*;

use crate::error::AppError;

pub const INPUT: &str = "mt-1 block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm shadow-sm focus:border-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-200";
pub const LABEL: &str = "block text-sm font-medium text-slate-700";
pub const BUTTON: &str = "inline-flex items-center justify-center rounded-md bg-indigo-600 px-4 py-2 text-sm font-semibold text-white shadow-sm hover:bg-indigo-500 focus:outline-none focus:ring-2 focus:ring-indigo-300 disabled:opacity-50";
pub const BUTTON_QUIET: &str = "inline-flex items-center justify-center rounded-md border border-slate-300 bg-white px-3 py-1.5 text-sm font-medium text-slate-700 hover:bg-slate-50 focus:outline-none focus:ring-2 focus:ring-indigo-200 disabled:opacity-50";
pub const BUTTON_DANGER: &str = "inline-flex items-center justify-center rounded-md border border-rose-300 bg-white px-3 py-1.5 text-sm font-medium text-rose-700 hover:bg-rose-50 focus:outline-none focus:ring-2 focus:ring-rose-200 disabled:opacity-50";
pub const CARD: &str = "rounded-lg border border-slate-200 bg-white p-6 shadow-sm";
pub const TABLE: &str = "min-w-full divide-y divide-slate-200 text-sm";
pub const TH: &str =
    "px-3 py-2 text-left text-xs font-semibold uppercase tracking-wide text-slate-500";
pub const TD: &str = "px-3 py-2 align-top text-slate-800";

/// A page's title and content.
#[component]
pub fn Page(#[prop(into)] title: String, children: Children) -> impl IntoView {
    let heading = title.clone();
    view! {
        <leptos_meta::Title text=format!("{title} · Rekey") />
        <section class="mx-auto max-w-6xl px-4 py-8">
            <h1 class="mb-6 text-2xl font-bold text-slate-900">{heading}</h1>
            {children()}
        </section>
    }
}

/// The error of the last submission of an action, if it failed.
#[component]
pub fn FormError<T>(#[prop(into)] value: Signal<Option<Result<T, AppError>>>) -> impl IntoView
where
    T: Send + Sync + Clone + 'static,
{
    move || {
        value.with(|v| match v {
            Some(Err(e)) => Some(view! {
                <p role="alert" class="mt-3 rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-sm text-rose-800">
                    {e.sentence()}
                </p>
            }),
            _ => None,
        })
    }
}

/// A line that confirms a successful submission.
#[component]
pub fn FormDone<T>(
    #[prop(into)] value: Signal<Option<Result<T, AppError>>>,
    #[prop(into)] message: String,
) -> impl IntoView
where
    T: Send + Sync + Clone + 'static,
{
    move || {
        value.with(|v| {
            matches!(v, Some(Ok(_))).then(|| {
                view! {
                    <p role="status" class="mt-3 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-800">
                        {message.clone()}
                    </p>
                }
            })
        })
    }
}

/// Shows an error that stopped a page from loading.
#[component]
pub fn LoadError(error: AppError) -> impl IntoView {
    view! {
        <p role="alert" class="rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-sm text-rose-800">
            {error.sentence()}
        </p>
    }
}

#[component]
pub fn Badge(#[prop(into)] text: String, #[prop(into)] tone: Tone) -> impl IntoView {
    let class = match tone {
        Tone::Good => "bg-emerald-100 text-emerald-800",
        Tone::Bad => "bg-rose-100 text-rose-800",
        Tone::Warn => "bg-amber-100 text-amber-800",
        Tone::Neutral => "bg-slate-100 text-slate-700",
    };
    view! { <span class=format!("inline-flex rounded-full px-2 py-0.5 text-xs font-medium {class}")>{text}</span> }
}

/// A horizontal bar filled to `percent`, drawn as SVG: its width is an attribute, not an inline
/// style, which the pages' Content Security Policy does not allow.
#[component]
pub fn FillBar(percent: i64, #[prop(into)] fill: String) -> impl IntoView {
    let width = format!("{}", percent.clamp(0, 100));
    view! {
        <svg class="block h-2 w-full" viewBox="0 0 100 2" preserveAspectRatio="none" aria-hidden="true">
            <rect width="100" height="2" rx="1" class="fill-slate-200" />
            <rect width=width height="2" rx="1" class=fill />
        </svg>
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Good,
    Bad,
    Warn,
    Neutral,
}

/// Copies `text` to the clipboard and says whether it did. The clipboard is there only in a
/// secure context (https, or this host), and the browser may refuse it: then the button asks
/// for the text to be selected and copied by hand rather than claim it was copied.
#[component]
pub fn CopyButton(text: String) -> impl IntoView {
    let outcome = RwSignal::new(None::<bool>);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let text = text.clone();
            leptos::task::spawn_local(async move {
                outcome.set(Some(copy_to_clipboard(&text).await));
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    view! {
        <button type="button" class=BUTTON_QUIET on:click=copy>
            {move || match outcome.get() {
                None => "Copy",
                Some(true) => "Copied",
                Some(false) => "Could not copy: select it and copy",
            }}
        </button>
    }
}

#[cfg(feature = "hydrate")]
async fn copy_to_clipboard(text: &str) -> bool {
    use wasm_bindgen::JsCast;
    let navigator = window().navigator();
    // `navigator.clipboard` is undefined outside a secure context, whatever web-sys's type says.
    let Ok(clipboard) = js_sys::Reflect::get(&navigator, &"clipboard".into()) else {
        return false;
    };
    let Ok(clipboard) = clipboard.dyn_into::<web_sys::Clipboard>() else {
        return false;
    };
    wasm_bindgen_futures::JsFuture::from(clipboard.write_text(text))
        .await
        .is_ok()
}

/// Sends the browser to `path` with a full page load, so every piece of state is fresh (after
/// signing in or out).
pub fn reload_to(path: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().set_href(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// `base` with the current query, `key` set to `value`: links that keep the filters.
pub fn query_link(
    base: &str,
    query: &leptos_router::params::ParamsMap,
    key: &str,
    value: &str,
) -> String {
    let mut q = query.clone();
    q.replace(key.to_string(), value.to_string());
    format!("{base}{}", q.to_query_string())
}

/// "Page 2 of 7 · 163 results" with previous and next links.
#[component]
pub fn Pager<F>(page: u32, pages: u32, total: i64, href: F) -> impl IntoView
where
    F: Fn(u32) -> String + 'static,
{
    let prev = (page > 1).then(|| href(page - 1));
    let next = (page < pages).then(|| href(page + 1));
    view! {
        <nav aria-label="Pages" class="flex items-center justify-between border-t border-slate-100 px-3 py-2 text-sm text-slate-600">
            <span>{format!("Page {page} of {} · {total} results", pages.max(1))}</span>
            <span class="flex gap-2">
                {prev.map(|h| view! { <a class=BUTTON_QUIET href=h rel="prev">"← Previous"</a> })}
                {next.map(|h| view! { <a class=BUTTON_QUIET href=h rel="next">"Next →"</a> })}
            </span>
        </nav>
    }
}
