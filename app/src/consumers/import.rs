//! The import page: choose a CSV or JSON file, read the dry run (or every problem by row and
//! column), apply it. The file goes to `POST /api/v1/imports` with fetch and the page polls the
//! job for progress; nothing is written until the person applies.

use leptos::prelude::*;
use serde_json::Value;

use crate::components::{BUTTON, CARD, Page, TABLE, TD, TH};

#[component]
pub fn ImportPage() -> impl IntoView {
    let job = RwSignal::new(None::<Value>);
    let error = RwSignal::new(None::<String>);
    let file_input = NodeRef::<leptos::html::Input>::new();
    let busy = move || {
        job.with(|j| {
            j.as_ref()
                .is_some_and(|j| matches!(state(j), "previewing" | "applying"))
        })
    };
    let preview = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        error.set(None);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(browser::upload(file_input, job, error));
    };
    let apply = move |_| {
        error.set(None);
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(browser::apply(job, error));
    };
    view! {
        <Page title="Import consumers">
            <div class="grid gap-6 lg:grid-cols-3">
                <div class=format!("{CARD} lg:col-span-1 text-sm space-y-3")>
                    <h2 class="text-lg font-semibold">"The file"</h2>
                    <p>"CSV with a header row, one row per credential (a consumer without credentials is one row with the credential columns empty), or JSON "<code>"{\"consumers\": [...]}"</code>"."</p>
                    <p>"Consumers and credentials are matched by their id from your systems: importing the same file again changes nothing, and nothing is ever deleted. Every import is a dry run first."</p>
                    <p>"Examples: "<a class="text-indigo-700 underline" href="/import-example.csv" download>"import-example.csv"</a>", "<a class="text-indigo-700 underline" href="/import-example.json" download>"import-example.json"</a>". The columns are listed in README.md."</p>
                    <form on:submit=preview class="space-y-3">
                        <label class="block text-sm font-medium text-slate-700">"CSV or JSON file"
                            <input node_ref=file_input class="mt-1 block w-full text-sm" type="file" name="file" accept=".csv,.json,text/csv,application/json" required />
                        </label>
                        <button class=BUTTON type="submit" disabled=busy>"Preview import"</button>
                    </form>
                </div>
                <div class=format!("{CARD} lg:col-span-2 text-sm")>
                    {move || error.get().map(|e| view! {
                        <p role="alert" class="mb-3 rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-rose-800">{e}</p>
                    })}
                    {move || match job.get() {
                        None => view! { <p class="text-slate-500">"Choose a file to see what it would change."</p> }.into_any(),
                        Some(j) => view! { <JobPanel job=j apply /> }.into_any(),
                    }}
                </div>
            </div>
        </Page>
    }
}

fn state(job: &Value) -> &str {
    job["state"].as_str().unwrap_or_default()
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or_default()
}

#[component]
fn JobPanel(job: Value, apply: impl Fn(leptos::ev::MouseEvent) + 'static) -> impl IntoView {
    let (done, total) = (count(&job["done"]), count(&job["total"]));
    let phase = job["phase"].as_str().unwrap_or_default().replace('_', " ");
    match state(&job) {
        "previewing" | "applying" => {
            let percent = (done * 100).checked_div(total).unwrap_or(0);
            view! {
                <div role="status">
                    <p class="mb-2 font-medium">{format!("{} ({phase}: {percent} %)", if state(&job) == "previewing" { "Checking the file…" } else { "Applying…" })}</p>
                    <progress class="w-full" max=total.max(1) value=done aria-label="Import progress"></progress>
                </div>
            }
            .into_any()
        }
        "refused" => {
            let problems = &job["problems"];
            let total = count(&problems["total"]);
            let listed: Vec<(String, String)> = problems["listed"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| (location(&p["at"]), p["message"].as_str().unwrap_or_default().to_string()))
                .collect();
            let shown = listed.len() as u64;
            view! {
                <p role="alert" class="mb-3 font-medium text-rose-800">
                    {format!("The file has {total} problem{}; nothing was imported. Fix them and upload the file again.", if total == 1 { "" } else { "s" })}
                </p>
                <table class=TABLE>
                    <thead><tr><th class=TH>"Where"</th><th class=TH>"Problem"</th></tr></thead>
                    <tbody class="divide-y divide-slate-100">
                        {listed.into_iter().map(|(at, message)| view! { <tr><td class=format!("{TD} whitespace-nowrap")>{at}</td><td class=TD>{message}</td></tr> }).collect_view()}
                    </tbody>
                </table>
                {(total > shown).then(|| view! { <p class="mt-2 text-slate-500">{format!("… and {} more.", total - shown)}</p> })}
            }
            .into_any()
        }
        "ready" => view! {
            <Summary preview=job["preview"].clone() heading="Preview: nothing is written until you apply." />
            <button class=format!("{BUTTON} mt-4") on:click=apply>"Apply import"</button>
        }
        .into_any(),
        "finished" => {
            let outcome = &job["outcome"];
            if outcome["applied"].as_bool() == Some(true) {
                view! { <div role="status"><Summary preview=outcome["preview"].clone() heading="Imported." /></div> }.into_any()
            } else {
                view! {
                    <p role="alert" class="text-rose-800">"The inventory changed since the preview and the file no longer applies; nothing was imported:"</p>
                    <ul class="mt-2 list-disc pl-5">
                        {outcome["preview"]["problems"]["listed"].as_array().into_iter().flatten().map(|p| view! {
                            <li>{format!("{}: {}", location(&p["at"]), p["message"].as_str().unwrap_or_default())}</li>
                        }).collect_view()}
                    </ul>
                }
                .into_any()
            }
        }
        _ => view! { <p role="alert" class="text-rose-800">{job["error"].as_str().unwrap_or("The import failed.").to_string()}</p> }.into_any(),
    }
}

/// A problem's location as the server words it (`row 812, column contact_email`).
fn location(at: &Value) -> String {
    if let Some(cell) = at.get("Cell") {
        return format!(
            "row {}, column {}",
            count(&cell["row"]),
            cell["column"].as_str().unwrap_or_default()
        );
    }
    if let Some(row) = at.get("Row") {
        return format!("row {}", count(row));
    }
    if let Some(path) = at.get("Path").and_then(Value::as_str) {
        return path.to_string();
    }
    "the file".into()
}

#[component]
fn Summary(preview: Value, heading: &'static str) -> impl IntoView {
    let line = |what: &'static str, c: &Value| {
        view! {
            <tr>
                <td class=TD>{what}</td>
                <td class=TD>{count(&c["create"])}</td>
                <td class=TD>{count(&c["update"])}</td>
                <td class=TD>{count(&c["unchanged"])}</td>
            </tr>
        }
    };
    let changes: Vec<String> = preview["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let fields: Vec<&str> = c["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            format!(
                "{} {} {}{}",
                if c["kind"] == "create" {
                    "Create"
                } else {
                    "Update"
                },
                c["record"].as_str().unwrap_or_default(),
                c["external_id"].as_str().unwrap_or_default(),
                if fields.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", fields.join(", "))
                }
            )
        })
        .collect();
    view! {
        <p class="mb-3 font-medium">{heading}</p>
        <table class=TABLE>
            <thead><tr><th class=TH></th><th class=TH>"Create"</th><th class=TH>"Update"</th><th class=TH>"Unchanged"</th></tr></thead>
            <tbody class="divide-y divide-slate-100">
                {line("Consumers", &preview["consumers"])}
                {line("Credentials", &preview["credentials"])}
            </tbody>
        </table>
        {(!changes.is_empty()).then(|| view! {
            <details class="mt-3"><summary>"Changes"</summary>
                <ul class="mt-2 list-disc pl-5 font-mono text-xs">{changes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}</ul>
            </details>
        })}
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use leptos::prelude::*;
    use serde_json::Value;
    use wasm_bindgen::{JsCast, JsValue};
    use wasm_bindgen_futures::JsFuture;

    /// The message of an error body, or a general one.
    fn message(body: &Value) -> String {
        match &body["detail"] {
            Value::String(s) => s.clone(),
            detail => detail["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| "The request failed.".into()),
        }
    }

    async fn call(method: &str, url: &str, body: Option<&JsValue>) -> Result<Value, String> {
        let init = web_sys::RequestInit::new();
        init.set_method(method);
        if let Some(body) = body {
            init.set_body(body);
        }
        let request = web_sys::Request::new_with_str_and_init(url, &init)
            .map_err(|_| "The request could not be made.".to_string())?;
        let window = web_sys::window().ok_or("no window")?;
        let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
            .await
            .map_err(|_| "Rekey could not be reached.".to_string())?
            .unchecked_into();
        let text = JsFuture::from(
            response
                .text()
                .map_err(|_| "The answer could not be read.")?,
        )
        .await
        .ok()
        .and_then(|t| t.as_string())
        .unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if response.ok() {
            Ok(body)
        } else {
            Err(message(&body))
        }
    }

    async fn sleep(ms: i32) {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            if let Some(w) = web_sys::window() {
                let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
            }
        });
        let _ = JsFuture::from(promise).await;
    }

    /// Follows the job until it settles.
    async fn follow(job: RwSignal<Option<Value>>, error: RwSignal<Option<String>>) {
        while let Some(id) = job.with_untracked(|j| {
            j.as_ref()
                .filter(|j| matches!(super::state(j), "previewing" | "applying"))
                .and_then(|j| j["id"].as_u64())
        }) {
            sleep(200).await;
            match call("GET", &format!("/api/v1/imports/{id}"), None).await {
                Ok(v) => job.set(Some(v)),
                Err(e) => {
                    error.set(Some(e));
                    return;
                }
            }
        }
    }

    pub async fn upload(
        input: NodeRef<leptos::html::Input>,
        job: RwSignal<Option<Value>>,
        error: RwSignal<Option<String>>,
    ) {
        let Some(file) = input
            .get_untracked()
            .and_then(|i| i.files())
            .and_then(|f| f.get(0))
        else {
            error.set(Some("Choose a CSV or JSON file first.".into()));
            return;
        };
        let name = file.name().to_lowercase();
        let format = if name.ends_with(".json") {
            "json"
        } else {
            "csv"
        };
        job.set(None);
        match call(
            "POST",
            &format!("/api/v1/imports?format={format}"),
            Some(&file.into()),
        )
        .await
        {
            Ok(v) => {
                job.set(Some(v));
                follow(job, error).await;
            }
            Err(e) => error.set(Some(e)),
        }
    }

    pub async fn apply(job: RwSignal<Option<Value>>, error: RwSignal<Option<String>>) {
        let Some(id) = job.with_untracked(|j| j.as_ref().and_then(|j| j["id"].as_u64())) else {
            return;
        };
        match call("POST", &format!("/api/v1/imports/{id}/apply"), None).await {
            Ok(v) => {
                job.set(Some(v));
                follow(job, error).await;
            }
            Err(e) => error.set(Some(e)),
        }
    }
}
