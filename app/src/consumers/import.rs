//! The import page: choose a CSV or JSON file, read the dry run (or every problem by row and
//! column), apply it. The file goes to `POST /api/v1/imports` with fetch and the page polls the
//! job for progress; nothing is written until the person applies.

use leptos::prelude::*;
use rekey_core::inventory::import_report::{
    ChangeKind, Counts, ImportOutcome, ImportPreview, JobState, JobView, Problems,
};

use crate::components::{BUTTON, CARD, Page, TABLE, TD, TH};

#[component]
pub fn ImportPage() -> impl IntoView {
    let job = RwSignal::new(None::<JobView>);
    let error = RwSignal::new(None::<String>);
    let file_input = NodeRef::<leptos::html::Input>::new();
    let busy = move || job.with(|j| j.as_ref().is_some_and(|j| j.state.is_busy()));
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

#[component]
fn JobPanel(job: JobView, apply: impl Fn(leptos::ev::MouseEvent) + 'static) -> impl IntoView {
    let (done, total) = (job.done, job.total);
    let phase = job.phase.label();
    match job.state {
        JobState::Previewing | JobState::Applying { .. } => {
            let doing = if matches!(job.state, JobState::Previewing) {
                "Checking the file…"
            } else {
                "Applying…"
            };
            let percent = (done * 100).checked_div(total).unwrap_or(0);
            view! {
                <div role="status">
                    <p class="mb-2 font-medium">{format!("{doing} ({phase}: {percent} %)")}</p>
                    <progress class="w-full" max=total.max(1) value=done aria-label="Import progress"></progress>
                </div>
            }
            .into_any()
        }
        JobState::Refused { problems } => {
            let Problems { listed, total } = problems;
            let shown = listed.len() as u64;
            view! {
                <p role="alert" class="mb-3 font-medium text-rose-800">
                    {format!("The file has {total} problem{}; nothing was imported. Fix them and upload the file again.", if total == 1 { "" } else { "s" })}
                </p>
                <table class=TABLE>
                    <thead><tr><th class=TH>"Where"</th><th class=TH>"Problem"</th></tr></thead>
                    <tbody class="divide-y divide-slate-100">
                        {listed.into_iter().map(|p| view! { <tr><td class=format!("{TD} whitespace-nowrap")>{p.at.to_string()}</td><td class=TD>{p.message}</td></tr> }).collect_view()}
                    </tbody>
                </table>
                {(total > shown).then(|| view! { <p class="mt-2 text-slate-500">{format!("… and {} more.", total - shown)}</p> })}
            }
            .into_any()
        }
        JobState::Ready { preview } => view! {
            <Summary preview heading="Preview: nothing is written until you apply." />
            <button class=format!("{BUTTON} mt-4") on:click=apply>"Apply import"</button>
        }
        .into_any(),
        JobState::Finished { outcome: ImportOutcome { preview, applied: true } } => {
            view! { <div role="status"><Summary preview heading="Imported." /></div> }.into_any()
        }
        JobState::Finished { outcome: ImportOutcome { preview, applied: false } } => view! {
            <p role="alert" class="text-rose-800">"The inventory changed since the preview and the file no longer applies; nothing was imported:"</p>
            <ul class="mt-2 list-disc pl-5">
                {preview.problems.listed.into_iter().map(|p| view! { <li>{p.to_string()}</li> }).collect_view()}
            </ul>
        }
        .into_any(),
        JobState::Failed { error } => view! { <p role="alert" class="text-rose-800">{error}</p> }.into_any(),
    }
}

#[component]
fn Summary(preview: ImportPreview, heading: &'static str) -> impl IntoView {
    let line = |what: &'static str, c: &Counts| {
        view! {
            <tr>
                <td class=TD>{what}</td>
                <td class=TD>{c.create}</td>
                <td class=TD>{c.update}</td>
                <td class=TD>{c.unchanged}</td>
            </tr>
        }
    };
    let changes: Vec<String> = preview
        .changes
        .iter()
        .map(|c| {
            format!(
                "{} {} {}{}",
                match c.kind {
                    ChangeKind::Create => "Create",
                    ChangeKind::Update => "Update",
                },
                c.record,
                c.external_id,
                if c.fields.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.fields.join(", "))
                }
            )
        })
        .collect();
    view! {
        <p class="mb-3 font-medium">{heading}</p>
        <table class=TABLE>
            <thead><tr><th class=TH></th><th class=TH>"Create"</th><th class=TH>"Update"</th><th class=TH>"Unchanged"</th></tr></thead>
            <tbody class="divide-y divide-slate-100">
                {line("Consumers", &preview.consumers)}
                {line("Credentials", &preview.credentials)}
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
    use rekey_core::inventory::import_report::JobView;
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

    /// The job the API answers with, or the error it gives.
    async fn call(method: &str, url: &str, body: Option<&JsValue>) -> Result<JobView, String> {
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
        if response.ok() {
            serde_json::from_str(&text).map_err(|_| "The answer could not be read.".to_string())
        } else {
            Err(message(&serde_json::from_str(&text).unwrap_or(Value::Null)))
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
    async fn follow(job: RwSignal<Option<JobView>>, error: RwSignal<Option<String>>) {
        while let Some(id) =
            job.with_untracked(|j| j.as_ref().filter(|j| j.state.is_busy()).map(|j| j.id))
        {
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
        job: RwSignal<Option<JobView>>,
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

    pub async fn apply(job: RwSignal<Option<JobView>>, error: RwSignal<Option<String>>) {
        let Some(id) = job.with_untracked(|j| j.as_ref().map(|j| j.id)) else {
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
