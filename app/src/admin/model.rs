//! The drafting model's settings: where the model is and how it is asked, its API key (kept
//! in the vault), the style guide and the prompt template its prompts are rendered from, and the
//! *Test* button.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use rekey_core::model::ModelTest;

use crate::components::{
    BUTTON, BUTTON_DANGER, BUTTON_QUIET, FormDone, FormError, INPUT, LABEL, LoadError,
};
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

/// The drafting model's section of the Settings page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSettingsView {
    /// The model in use, when there is one.
    pub endpoint: Option<EndpointView>,
    /// Whether `REKEY_DRAFTER_*` set it, and so the page cannot change it.
    pub pinned: bool,
    /// Where the API key comes from, in words; never the key.
    pub api_key: String,
    /// Whether a key is kept in the vault (and so can be removed here).
    pub key_in_vault: bool,
    /// For the model's prompt; empty when none.
    pub style_guide: String,
    /// The prompt template in use.
    pub prompt: PromptView,
    /// Every version of it, newest first.
    pub prompt_history: Vec<PromptView>,
    /// The facts a template may use.
    pub variables: Vec<String>,
}

/// The model in use, as the form shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EndpointView {
    /// The API's base URL.
    pub url: String,
    pub model: String,
    pub timeout_secs: u64,
    pub max_tokens: u32,
    pub temperature: f32,
    pub concurrency: u16,
}

/// One version of the prompt template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptView {
    pub version: i64,
    pub system: String,
    pub user: String,
    /// "built into Rekey", or who saved it and when (UTC).
    pub saved: String,
}

#[cfg(feature = "ssr")]
fn prompt_view(t: rekey_core::notices::prompt_templates::PromptTemplate) -> PromptView {
    PromptView {
        version: t.version,
        saved: match &t.saved {
            None => "built into Rekey".into(),
            Some((by, at)) => format!("saved by {by}, {}", at.utc_minute()),
        },
        system: t.system,
        user: t.user,
    }
}

#[server(endpoint = "admin/model_settings")]
pub async fn model_settings() -> Result<ModelSettingsView, AppError> {
    use rekey_core::model::endpoint::Source;
    use rekey_core::notices::prompt_templates;
    session::authorize::<ModelSettings>().await?;
    let rk = session::rekey()?;
    let configured = rekey_core::model::configured(&rk).await?;
    let key_in_vault = rekey_core::model::api_key_stored(&rk).await?;
    let key_file = configured
        .as_ref()
        .is_some_and(|(m, _)| m.endpoint().api_key.is_some());
    let mut history = prompt_templates::history(&rk.db).await?;
    let prompt = prompt_view(history.remove(0));
    Ok(ModelSettingsView {
        pinned: matches!(configured, Some((_, Source::Environment))),
        endpoint: configured.map(|(m, _)| EndpointView {
            url: m.url(),
            model: m.model().to_string(),
            timeout_secs: m.endpoint().timeout.as_secs(),
            max_tokens: m.endpoint().max_tokens,
            temperature: m.endpoint().temperature,
            concurrency: m.endpoint().concurrency,
        }),
        api_key: match (key_in_vault, key_file) {
            (true, _) => "kept in the vault".into(),
            (false, true) => "from REKEY_DRAFTER_API_KEY_FILE".into(),
            (false, false) => "none".into(),
        },
        key_in_vault,
        style_guide: rekey_core::settings::load(&rk.db)
            .await?
            .provider
            .style_guide,
        prompt,
        prompt_history: history.into_iter().map(prompt_view).collect(),
        variables: prompt_templates::VARIABLES
            .iter()
            .map(|v| v.to_string())
            .collect(),
    })
}

/// Points the drafter at a model (any server speaking OpenAI's chat-completions format).
#[server(endpoint = "admin/save_model")]
pub async fn save_model(
    url: String,
    model: String,
    timeout_secs: String,
    max_tokens: String,
    temperature: String,
    concurrency: String,
) -> Result<(), AppError> {
    let (who, _) = session::authorize::<SaveModel>().await?;
    let rk = session::rekey()?;
    let input = rekey_core::model::endpoint::EndpointInput {
        url: &url,
        model: &model,
        timeout_secs: &timeout_secs,
        max_tokens: &max_tokens,
        temperature: &temperature,
        concurrency: &concurrency,
    };
    rekey_core::model::endpoint::set(&rk, &who, &input).await?;
    Ok(())
}

/// Forgets the model: the built-in drafter writes every notice.
#[server(endpoint = "admin/remove_model")]
pub async fn remove_model() -> Result<(), AppError> {
    let (who, _) = session::authorize::<RemoveModel>().await?;
    let rk = session::rekey()?;
    rekey_core::model::endpoint::remove(&rk, &who).await?;
    Ok(())
}

/// Saves the provider's style guide, which the drafting model's prompt carries.
#[server(endpoint = "admin/style_guide")]
pub async fn save_style_guide(style_guide: String) -> Result<(), AppError> {
    let (who, _) = session::authorize::<SaveStyleGuide>().await?;
    let rk = session::rekey()?;
    rekey_core::settings::set_style_guide(&rk, &who, &style_guide).await?;
    Ok(())
}

/// Stores the model's API key in the vault (never shown again), or removes it when empty.
#[server(endpoint = "admin/model_key")]
pub async fn save_model_key(key: String) -> Result<(), AppError> {
    let (who, _) = session::authorize::<SaveModelKey>().await?;
    let rk = session::rekey()?;
    rekey_core::model::set_api_key(&rk, &who, &key).await?;
    Ok(())
}

/// Saves the prompt template as the version after `based_on`: the system and user messages as
/// edited, or the built-in ones again when `built_in` is sent.
#[server(endpoint = "admin/save_prompt")]
pub async fn save_prompt(
    based_on: String,
    system: Option<String>,
    user: Option<String>,
    built_in: Option<String>,
) -> Result<i64, AppError> {
    use rekey_core::notices::prompt_templates;
    let (who, _) = session::authorize::<SavePrompt>().await?;
    let rk = session::rekey()?;
    let based_on = based_on
        .trim()
        .parse::<i64>()
        .map_err(|_| AppError::invalid("based_on", format!("'{based_on}' is not a version")))?;
    let (system, user) = match built_in {
        Some(_) => {
            let t = prompt_templates::built_in();
            (t.system, t.user)
        }
        None => (system.unwrap_or_default(), user.unwrap_or_default()),
    };
    let saved = prompt_templates::save(&rk, &who, based_on, &system, &user).await?;
    Ok(saved.version)
}

/// Sends the drafter's model one small request: its answer, latency and speed, or what went
/// wrong (audited either way).
#[server(endpoint = "admin/test_model")]
pub async fn test_model() -> Result<ModelTest, AppError> {
    let (who, _) = session::authorize::<TestModel>().await?;
    let rk = session::rekey()?;
    Ok(rekey_core::model::test(&rk, &who).await?)
}

/// The drafting model's part of the Settings page.
#[component]
pub fn ModelSettings() -> impl IntoView {
    let save_model = ServerAction::<SaveModel>::new();
    let remove_model = ServerAction::<RemoveModel>::new();
    let save_key = ServerAction::<SaveModelKey>::new();
    let save_style = ServerAction::<SaveStyleGuide>::new();
    let save_prompt = ServerAction::<SavePrompt>::new();
    let test = ServerAction::<TestModel>::new();
    let current = Resource::new(
        move || {
            (
                save_model.version().get(),
                remove_model.version().get(),
                save_key.version().get(),
                save_style.version().get(),
                save_prompt.version().get(),
            )
        },
        |_| model_settings(),
    );
    view! {
        <h2 class="mb-3 mt-8 text-lg font-semibold">"Drafting model"</h2>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match current.await {
                    Err(error) => view! { <LoadError error /> }.into_any(),
                    Ok(s) => {
                        let style_guide = s.style_guide.clone();
                        let prompt = s.clone();
                        view! {
                        <EndpointForm s=s.clone() save=save_model remove=remove_model />
                        {s.endpoint.is_some().then(|| view! {
                            <p class="mt-3 text-sm text-slate-600">{format!("API key: {}.", s.api_key.clone())}</p>
                            <ActionForm action=save_key attr:class="mt-2 flex flex-wrap items-end gap-3">
                                <label class=LABEL>"API key (kept in the vault, never shown again)"
                                    <input class=INPUT type="password" name="key" autocomplete="off" required />
                                </label>
                                <button class=BUTTON_QUIET type="submit">"Store the key"</button>
                            </ActionForm>
                            {s.key_in_vault.then(|| view! {
                                <ActionForm action=save_key attr:class="mt-2">
                                    <input type="hidden" name="key" value="" />
                                    <button class=BUTTON_QUIET type="submit">"Remove the key"</button>
                                </ActionForm>
                            })}
                        })}
                        <ActionForm action=save_style attr:class="mt-4 space-y-2">
                            <label class=LABEL>"Style guide (how your notices sound; sent to the model, so never a secret)"
                                <textarea class=INPUT name="style_guide" rows="3" placeholder="Plain words, short sentences, sign as the Platform team.">{style_guide}</textarea>
                            </label>
                            <button class=BUTTON_QUIET type="submit">"Save the style guide"</button>
                        </ActionForm>
                        <PromptForm s=prompt save=save_prompt />
                    }.into_any()
                    }
                }
            })}
        </Transition>
        <ActionForm action=test attr:class="mt-4">
            <button class=BUTTON type="submit" disabled=move || test.pending().get()>{move || if test.pending().get() { "Testing…" } else { "Test" }}</button>
        </ActionForm>
        {move || test.value().get().map(|outcome| match outcome {
            Ok(ModelTest::Answered { answer, latency_ms, completion_tokens, tokens_per_sec }) => view! {
                <div role="status" class="mt-3 rounded border border-emerald-200 bg-emerald-50 p-3 text-sm">
                    <p class="font-medium text-emerald-900">{format!("The model answered in {latency_ms} ms: {completion_tokens} tokens, {tokens_per_sec:.1} tokens/s.")}</p>
                    <p class="mt-1 text-slate-700">{answer}</p>
                </div>
            }.into_any(),
            Ok(ModelTest::Failed { problem }) => view! {
                <p role="alert" class="mt-3 rounded border border-red-200 bg-red-50 p-3 text-sm text-red-900">{format!("The test failed: {problem}")}</p>
            }.into_any(),
            Err(error) => view! { <p role="alert" class="mt-3 text-sm text-red-900">{error.to_string()}</p> }.into_any(),
        })}
        <FormError value=save_model.value() />
        <FormDone value=save_model.value() message="Model saved. Press Test to try it; new campaigns can draft with it." />
        <FormError value=remove_model.value() />
        <FormDone value=remove_model.value() message="Model removed: the built-in drafter writes every notice." />
        <FormError value=save_key.value() />
        <FormDone value=save_key.value() message="API key saved in the vault." />
        <FormError value=save_style.value() />
        <FormDone value=save_style.value() message="Style guide saved. The model's next drafts follow it." />
        <FormError value=save_prompt.value() />
        {move || save_prompt.value().get().and_then(Result::ok).map(|version| view! {
            <p role="status" class="mt-3 rounded-md border border-emerald-200 bg-emerald-50 px-3 py-2 text-sm text-emerald-800">
                {format!("Prompt template version {version} saved. The model's next drafts use it.")}
            </p>
        })}
    }
}

/// Where the model is and how it is asked: editable, unless the environment pins it.
#[component]
fn EndpointForm(
    s: ModelSettingsView,
    save: ServerAction<SaveModel>,
    remove: ServerAction<RemoveModel>,
) -> impl IntoView {
    if s.pinned {
        let e = s
            .endpoint
            .unwrap_or_else(|| unreachable!("a pinned model is configured"));
        return view! {
            <p class="text-sm text-slate-600">"Set by REKEY_DRAFTER_URL and REKEY_DRAFTER_MODEL on the server; change it there."</p>
            <dl class="mt-2 grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm" aria-label="Drafting model">
                <dt class="text-slate-500">"Endpoint"</dt><dd class="font-mono">{e.url}</dd>
                <dt class="text-slate-500">"Model"</dt><dd class="font-mono">{e.model}</dd>
                <dt class="text-slate-500">"Limits"</dt><dd>{format!("{} s, {} tokens, temperature {:.2}, {} at once", e.timeout_secs, e.max_tokens, e.temperature, e.concurrency)}</dd>
            </dl>
        }
        .into_any();
    }
    let configured = s.endpoint.is_some();
    let e = s.endpoint.unwrap_or(EndpointView {
        url: String::new(),
        model: String::new(),
        timeout_secs: 60,
        max_tokens: 400,
        temperature: 0.2,
        concurrency: 2,
    });
    view! {
        {(!configured).then(|| view! {
            <p class="mb-2 text-sm text-slate-600">"No model is set: the built-in drafter writes every notice. Point Rekey at any server that speaks OpenAI's chat-completions format: llama.cpp's llama-server, Ollama, vLLM, LM Studio or a hosted API."</p>
        })}
        <ActionForm action=save attr:class="grid gap-3 sm:grid-cols-2" attr:aria-label="Drafting model">
            <label class=LABEL>"Endpoint URL (before /chat/completions)"<input class=INPUT name="url" value=e.url placeholder="http://127.0.0.1:8080/v1" required /></label>
            <label class=LABEL>"Model name"<input class=INPUT name="model" value=e.model placeholder="smollm2" required /></label>
            <label class=LABEL>"Timeout (seconds)"<input class=INPUT type="number" min="1" max="3600" name="timeout_secs" value=e.timeout_secs.to_string() required /></label>
            <label class=LABEL>"Maximum tokens per answer"<input class=INPUT type="number" min="16" max="32000" name="max_tokens" value=e.max_tokens.to_string() required /></label>
            <label class=LABEL>"Temperature (0 to 2)"<input class=INPUT type="number" min="0" max="2" step="0.01" name="temperature" value=format!("{:.2}", e.temperature) required /></label>
            <label class=LABEL>"Requests at once"<input class=INPUT type="number" min="1" max="64" name="concurrency" value=e.concurrency.to_string() required /></label>
            <div><button class=BUTTON type="submit">"Save the model"</button></div>
        </ActionForm>
        {configured.then(|| view! {
            <ActionForm action=remove attr:class="mt-2">
                <button class=BUTTON_DANGER type="submit">"Remove the model"</button>
            </ActionForm>
        })}
    }
    .into_any()
}

/// The prompt template: the version in use, editable, and the versions before it.
#[component]
fn PromptForm(s: ModelSettingsView, save: ServerAction<SavePrompt>) -> impl IntoView {
    let p = s.prompt;
    let facts = s.variables.join(", ");
    view! {
        <h3 class="mb-2 mt-6 font-semibold">{format!("Prompt template, version {}", p.version)}</h3>
        <p class="text-sm text-slate-600">{format!("In use, {}. Written in minijinja (like Jinja2); a saved change becomes the next version and is audited. Facts it can use: {facts}.", p.saved)}</p>
        <ActionForm action=save attr:class="mt-2 space-y-2">
            <input type="hidden" name="based_on" value=p.version.to_string() />
            <label class=LABEL>"System message (the model's instructions)"
                <textarea class=format!("{INPUT} font-mono") name="system" rows="5">{p.system.clone()}</textarea>
            </label>
            <label class=LABEL>"User message (one consumer's facts; keeps {{ reference.body }})"
                <textarea class=format!("{INPUT} font-mono") name="user" rows="8">{p.user.clone()}</textarea>
            </label>
            <button class=BUTTON_QUIET type="submit">"Save as a new version"</button>
        </ActionForm>
        {(p.version != 1).then(|| view! {
            <ActionForm action=save attr:class="mt-2">
                <input type="hidden" name="based_on" value=p.version.to_string() />
                <input type="hidden" name="built_in" value="yes" />
                <button class=BUTTON_QUIET type="submit">"Go back to the built-in template"</button>
            </ActionForm>
        })}
        {(!s.prompt_history.is_empty()).then(|| view! {
            <details class="mt-3 text-sm">
                <summary class="cursor-pointer text-slate-700">"Earlier versions"</summary>
                <ul class="mt-2 space-y-2">
                    {s.prompt_history.into_iter().map(|old| view! {
                        <li>
                            <p class="font-medium">{format!("Version {}, {}", old.version, old.saved)}</p>
                            <pre class="mt-1 whitespace-pre-wrap rounded bg-slate-50 p-2 text-xs">{format!("{}\n\n{}", old.system, old.user)}</pre>
                        </li>
                    }).collect_view()}
                </ul>
            </details>
        })}
    }
}
