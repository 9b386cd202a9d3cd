//! Instance settings.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::components::{BUTTON, CARD, FormDone, FormError, LoadError, Page};
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsView {
    pub require_totp_for_privileged: bool,
}

#[server(endpoint = "admin/settings")]
pub async fn settings() -> Result<SettingsView, AppError> {
    session::authorize::<Settings>().await?;
    let rk = session::rekey()?;
    let s = rekey_core::settings::load(&rk.db).await?;
    Ok(SettingsView {
        require_totp_for_privileged: s.require_totp_for_privileged,
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

#[component]
pub fn SettingsPage() -> impl IntoView {
    let save = ServerAction::<SaveSettings>::new();
    let current = Resource::new(move || save.version().get(), |_| settings());
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
                            }.into_any(),
                        }
                    })}
                </Transition>
                <FormError value=save.value() />
                <FormDone value=save.value() message="Settings saved." />
            </div>
        </Page>
    }
}
