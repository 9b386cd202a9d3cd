//! Instance settings.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use rekey_core::model::ModelTest;

use crate::components::{
    BUTTON, BUTTON_QUIET, CARD, FormDone, FormError, INPUT, LABEL, LoadError, Page,
};
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingsView {
    pub require_totp_for_privileged: bool,
    pub provider_name: String,
    pub dashboard_url: String,
    pub docs_url: String,
    pub api_url: String,
    pub support_email: String,
    pub sender: String,
    /// Empty when none is set.
    pub team_email: String,
    /// For the model drafter; empty when none.
    pub style_guide: String,
    /// The drafter's language model, when one is configured.
    pub model: Option<ModelView>,
}

/// The drafter's model as the settings page shows it (set by `REKEY_DRAFTER_*`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelView {
    /// The API's base URL, without credentials.
    pub url: String,
    pub model: String,
    pub timeout_secs: u64,
    pub max_tokens: u32,
    pub temperature: f32,
    pub concurrency: u16,
    /// Where the API key comes from, in words; never the key.
    pub api_key: String,
    /// Whether a key is kept in the vault (and so can be removed here).
    pub key_in_vault: bool,
}

#[server(endpoint = "admin/settings")]
pub async fn settings() -> Result<SettingsView, AppError> {
    session::authorize::<Settings>().await?;
    let rk = session::rekey()?;
    let s = rekey_core::settings::load(&rk.db).await?;
    let p = s.provider;
    Ok(SettingsView {
        require_totp_for_privileged: s.require_totp_for_privileged,
        provider_name: p.name,
        dashboard_url: p.dashboard_url.as_str().into(),
        docs_url: p.docs_url.as_str().into(),
        api_url: p.api_url.as_str().into(),
        support_email: p.support_email.to_string(),
        sender: p.sender.to_string(),
        team_email: p.team_email.map(|e| e.to_string()).unwrap_or_default(),
        style_guide: p.style_guide,
        model: match rk.model.as_ref() {
            None => None,
            Some(m) => {
                let key_in_vault = rekey_core::model::api_key_stored(&rk).await?;
                Some(ModelView {
                    url: m.url(),
                    model: m.model().to_string(),
                    timeout_secs: m.endpoint().timeout.as_secs(),
                    max_tokens: m.endpoint().max_tokens,
                    temperature: m.endpoint().temperature,
                    concurrency: m.endpoint().concurrency,
                    api_key: match (key_in_vault, m.endpoint().api_key.is_some()) {
                        (true, _) => "kept in the vault".into(),
                        (false, true) => "from REKEY_DRAFTER_API_KEY_FILE".into(),
                        (false, false) => "none".into(),
                    },
                    key_in_vault,
                })
            }
        },
    })
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

/// Sends the drafter's model one small request: its answer, latency and speed, or what went
/// wrong (audited either way).
#[server(endpoint = "admin/test_model")]
pub async fn test_model() -> Result<ModelTest, AppError> {
    let (who, _) = session::authorize::<TestModel>().await?;
    let rk = session::rekey()?;
    Ok(rekey_core::model::test(&rk, &who).await?)
}

/// Saves the settings form. An unchecked box sends nothing, so absence means off.
#[server(endpoint = "admin/save_settings")]
pub async fn save_settings(require_totp_for_privileged: Option<String>) -> Result<(), AppError> {
    let (who, _) = session::authorize::<SaveSettings>().await?;
    let rk = session::rekey()?;
    let on = match require_totp_for_privileged.as_deref() {
        None => false,
        Some("on") | Some("true") => true,
        Some(other) => {
            return Err(AppError::invalid(
                "require_totp_for_privileged",
                format!("'{other}' is not on or off"),
            ));
        }
    };
    rekey_core::settings::set_require_totp(&rk, &who, on).await?;
    Ok(())
}

/// Saves who notices come from and the links they give, and where team messages go (a blank
/// team address, or none sent, means none).
#[server(endpoint = "admin/save_provider")]
pub async fn save_provider(
    provider_name: String,
    dashboard_url: String,
    docs_url: String,
    api_url: String,
    support_email: String,
    sender: String,
    team_email: Option<String>,
) -> Result<(), AppError> {
    use rekey_core::identity::EmailAddress;
    use rekey_core::settings::{HttpsUrl, ProviderProfile};
    let (who, _) = session::authorize::<SaveProvider>().await?;
    let rk = session::rekey()?;
    let name = provider_name.trim();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "provider_name",
            "the provider's name is one line of 1 to 80 characters",
        ));
    }
    let profile = ProviderProfile {
        name: name.to_string(),
        dashboard_url: HttpsUrl::parse("dashboard_url", &dashboard_url)?,
        docs_url: HttpsUrl::parse("docs_url", &docs_url)?,
        api_url: HttpsUrl::parse("api_url", &api_url)?,
        support_email: EmailAddress::parse(&support_email)?,
        sender: EmailAddress::parse(&sender)?,
        team_email: match team_email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(address) => Some(EmailAddress::parse(address).map_err(|e| {
                AppError::invalid("team_email", format!("the team address: {}", e.message))
            })?),
        },
        // Saved on its own form.
        style_guide: rekey_core::settings::load(&rk.db)
            .await?
            .provider
            .style_guide,
    };
    rekey_core::settings::set_provider(&rk, &who, &profile).await?;
    Ok(())
}

#[component]
pub fn SettingsPage() -> impl IntoView {
    let save = ServerAction::<SaveSettings>::new();
    let test = ServerAction::<TestModel>::new();
    let save_provider = ServerAction::<SaveProvider>::new();
    let save_key = ServerAction::<SaveModelKey>::new();
    let save_style = ServerAction::<SaveStyleGuide>::new();
    let current = Resource::new(
        move || {
            (
                save.version().get(),
                save_provider.version().get(),
                save_key.version().get(),
                save_style.version().get(),
            )
        },
        |_| settings(),
    );
    view! {
        <Page title="Settings">
            <div class=format!("{CARD} max-w-2xl")>
                <Transition fallback=|| view! { <p>"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match current.await {
                            Err(error) => view! { <LoadError error /> }.into_any(),
                            Ok(s) => view! {
                                <ActionForm action=save attr:class="space-y-4">
                                    <label class="flex items-start gap-3 text-sm">
                                        <input type="checkbox" class="mt-1" name="require_totp_for_privileged" checked=s.require_totp_for_privileged />
                                        <span>
                                            <span class="font-medium text-slate-900">"Require TOTP for approvers and admins"</span>
                                            <span class="block text-slate-500">"Approvers and admins without TOTP can only reach their account page until they enrol."</span>
                                        </span>
                                    </label>
                                    <button class=BUTTON type="submit">"Save settings"</button>
                                </ActionForm>
                                <h2 class="mb-3 mt-8 text-lg font-semibold">"Notices come from"</h2>
                                <ActionForm action=save_provider attr:class="grid gap-3 sm:grid-cols-2">
                                    <label class=LABEL>"Provider name"<input class=INPUT name="provider_name" value=s.provider_name required /></label>
                                    <label class=LABEL>"Sender address"<input class=INPUT type="email" name="sender" value=s.sender required /></label>
                                    <label class=LABEL>"Key dashboard URL"<input class=INPUT name="dashboard_url" value=s.dashboard_url required /></label>
                                    <label class=LABEL>"Rotation guide URL"<input class=INPUT name="docs_url" value=s.docs_url required /></label>
                                    <label class=LABEL>"API base URL"<input class=INPUT name="api_url" value=s.api_url required /></label>
                                    <label class=LABEL>"Support e-mail"<input class=INPUT type="email" name="support_email" value=s.support_email required /></label>
                                    <label class=LABEL>"Team address (team messages)"<input class=INPUT type="email" name="team_email" value=s.team_email placeholder="engineering@example.com" /></label>
                                    <div><button class=BUTTON type="submit">"Save provider details"</button></div>
                                </ActionForm>
                                <h2 class="mb-3 mt-8 text-lg font-semibold">"Drafting model"</h2>
                                {match s.model {
                                    None => view! {
                                        <p class="text-sm text-slate-600">"No model is configured: the built-in drafter writes every notice. Point Rekey at any server that speaks OpenAI's chat-completions format with REKEY_DRAFTER_URL and REKEY_DRAFTER_MODEL."</p>
                                    }.into_any(),
                                    Some(m) => view! {
                                        <dl class="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm" aria-label="Drafting model">
                                            <dt class="text-slate-500">"Endpoint"</dt><dd class="font-mono">{m.url}</dd>
                                            <dt class="text-slate-500">"Model"</dt><dd class="font-mono">{m.model}</dd>
                                            <dt class="text-slate-500">"Limits"</dt><dd>{format!("{} s, {} tokens, temperature {:.2}, {} at once", m.timeout_secs, m.max_tokens, m.temperature, m.concurrency)}</dd>
                                            <dt class="text-slate-500">"API key"</dt><dd>{m.api_key}</dd>
                                        </dl>
                                        <ActionForm action=save_key attr:class="mt-3 flex flex-wrap items-end gap-3">
                                            <label class=LABEL>"API key (kept in the vault, never shown again)"
                                                <input class=INPUT type="password" name="key" autocomplete="off" required />
                                            </label>
                                            <button class=BUTTON_QUIET type="submit">"Store the key"</button>
                                        </ActionForm>
                                        <ActionForm action=save_style attr:class="mt-3 space-y-2">
                                            <label class=LABEL>"Style guide (how your notices sound; sent to the model, so never a secret)"
                                                <textarea class=INPUT name="style_guide" rows="3" placeholder="Plain words, short sentences, sign as the Platform team.">{s.style_guide.clone()}</textarea>
                                            </label>
                                            <button class=BUTTON_QUIET type="submit">"Save the style guide"</button>
                                        </ActionForm>
                                        {m.key_in_vault.then(|| view! {
                                            <ActionForm action=save_key attr:class="mt-2">
                                                <input type="hidden" name="key" value="" />
                                                <button class=BUTTON_QUIET type="submit">"Remove the key"</button>
                                            </ActionForm>
                                        })}
                                    }.into_any(),
                                }}
                                <ActionForm action=test attr:class="mt-3">
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
                            }.into_any(),
                        }
                    })}
                </Transition>
                <FormError value=save.value() />
                <FormDone value=save.value() message="Settings saved." />
                <FormError value=save_provider.value() />
                <FormError value=save_key.value() />
                <FormError value=save_style.value() />
                <FormDone value=save_style.value() message="Style guide saved. The model's next drafts follow it." />
                <FormDone value=save_key.value() message="API key saved in the vault." />
                <FormDone value=save_provider.value() message="Provider details saved. New drafts use them." />
            </div>
        </Page>
    }
}
