//! Instance settings.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::components::{BUTTON, CARD, FormDone, FormError, INPUT, LABEL, LoadError, Page};
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
    })
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
    let save_provider = ServerAction::<SaveProvider>::new();
    let current = Resource::new(
        move || (save.version().get(), save_provider.version().get()),
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
                            }.into_any(),
                        }
                    })}
                </Transition>
                <FormError value=save.value() />
                <FormDone value=save.value() message="Settings saved." />
                <FormError value=save_provider.value() />
                <FormDone value=save_provider.value() message="Provider details saved. New drafts use them." />
                <super::model::ModelSettings />
            </div>
        </Page>
    }
}
