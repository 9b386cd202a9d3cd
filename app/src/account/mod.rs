//! A person's own account: password, TOTP enrolment and removal, recovery codes.
//!
//! Every change of a factor asks for the current password (and, once TOTP is on, a current code
//! or a recovery code): a session alone, perhaps a stolen one, cannot change how its person
//! signs in.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::access::Hold;
use crate::auth::{Profile, use_me};
use crate::components::{
    BUTTON, BUTTON_DANGER, BUTTON_QUIET, CARD, FormDone, FormError, INPUT, LABEL, LoadError, Page,
    reload_to,
};
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

/// The current password as typed in a form: named `current` so the error points at that field.
#[cfg(feature = "ssr")]
fn current_password(raw: String) -> Result<rekey_core::password::Password, AppError> {
    rekey_core::password::Password::for_login(raw)
        .map_err(|e| AppError::invalid("current", e.message))
}

#[server(endpoint = "account/change_password")]
pub async fn change_password(
    current: String,
    new: String,
    confirm: String,
) -> Result<(), AppError> {
    use rekey_core::password::Password;
    let (who, caller) = session::authorize::<ChangePassword>().await?;
    let rk = session::rekey()?;
    let current = current_password(current)?;
    if new != confirm {
        return Err(AppError::invalid(
            "confirm",
            "the new password and its confirmation differ",
        ));
    }
    let new = Password::new_choice(new)?;
    let user = rekey_core::users::change_password(
        &rk,
        session::own_id(&who)?,
        &current,
        &new,
        caller.address,
    )
    .await?;
    session::keep_signed_in(user).await
}

/// A TOTP secret offered for enrolment: the QR code and the URI it encodes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    pub qr_svg: String,
    pub otpauth_uri: String,
}

// Both fields carry the seed: a derived Debug would print it into any log of this type.
impl std::fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Enrolment([redacted])")
    }
}

/// Recovery codes, shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCodes(pub Vec<String>);

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes([{} redacted])", self.0.len())
    }
}

#[cfg(feature = "ssr")]
impl From<rekey_core::login::second_factor::RecoveryCodes> for RecoveryCodes {
    fn from(codes: rekey_core::login::second_factor::RecoveryCodes) -> Self {
        Self(codes.expose().into_iter().map(str::to_string).collect())
    }
}

/// After the current password: draws a seed, kept sealed until a code confirms it.
#[server(endpoint = "account/totp_begin")]
pub async fn totp_begin(current: String) -> Result<Enrolment, AppError> {
    let (who, caller) = session::authorize::<TotpBegin>().await?;
    let rk = session::rekey()?;
    let current = current_password(current)?;
    let enrolment = rekey_core::login::second_factor::begin(
        &rk,
        session::own_id(&who)?,
        &current,
        caller.address,
    )
    .await?;
    Ok(Enrolment {
        qr_svg: enrolment.qr_svg().to_string(),
        otpauth_uri: enrolment.otpauth_uri().to_string(),
    })
}

/// The current password again and the first code: enables TOTP and returns the recovery codes.
#[server(endpoint = "account/totp_confirm")]
pub async fn totp_confirm(current: String, code: String) -> Result<RecoveryCodes, AppError> {
    let (who, caller) = session::authorize::<TotpConfirm>().await?;
    let rk = session::rekey()?;
    let current = current_password(current)?;
    let (user, codes) = rekey_core::login::second_factor::confirm(
        &rk,
        session::own_id(&who)?,
        &current,
        &code,
        caller.address,
    )
    .await?;
    session::keep_signed_in(user).await?;
    Ok(codes.into())
}

#[server(endpoint = "account/totp_remove")]
pub async fn totp_remove(current: String, code: String) -> Result<(), AppError> {
    let (who, caller) = session::authorize::<TotpRemove>().await?;
    let rk = session::rekey()?;
    let settings = rekey_core::settings::load(&rk.db).await?;
    if who
        .role()
        .is_some_and(|role| settings.totp_required_for(role))
    {
        return Err(AppError::Refused(
            "your role requires TOTP, so it cannot be removed".into(),
        ));
    }
    let current = current_password(current)?;
    let user = rekey_core::login::second_factor::remove(
        &rk,
        session::own_id(&who)?,
        &current,
        &code,
        caller.address,
    )
    .await?;
    session::keep_signed_in(user).await
}

#[server(endpoint = "account/renew_recovery_codes")]
pub async fn renew_recovery_codes(
    current: String,
    code: String,
) -> Result<RecoveryCodes, AppError> {
    let (who, caller) = session::authorize::<RenewRecoveryCodes>().await?;
    let rk = session::rekey()?;
    let current = current_password(current)?;
    Ok(rekey_core::login::second_factor::renew_recovery_codes(
        &rk,
        session::own_id(&who)?,
        &current,
        &code,
        caller.address,
    )
    .await?
    .into())
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let me = use_me().0;
    view! {
        <Page title="Your account">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match me.await {
                        Ok(Some(me)) => view! { <Account me /> }.into_any(),
                        Ok(None) => view! { <LoadError error=AppError::SignInRequired /> }.into_any(),
                        Err(error) => view! { <LoadError error /> }.into_any(),
                    }
                })}
            </Suspense>
        </Page>
    }
}

#[component]
fn Account(me: Profile) -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let must_change = me.hold == Some(Hold::ChangePassword);
    Effect::new(move |_| {
        if must_change && matches!(change.value().get(), Some(Ok(()))) {
            reload_to("/");
        }
    });
    view! {
        {must_change.then(|| view! {
            <p role="alert" class="mb-6 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
                "An admin chose the password you signed in with. Choose your own below; until you do, the rest of Rekey stays closed."
            </p>
        })}
        <div class="grid gap-6 md:grid-cols-2">
            <div class=CARD>
                <h2 class="mb-4 text-lg font-semibold">"Profile"</h2>
                <dl class="grid grid-cols-3 gap-2 text-sm">
                    <dt class="text-slate-500">"Username"</dt>
                    <dd class="col-span-2 font-mono">{me.username.clone()}</dd>
                    <dt class="text-slate-500">"Name"</dt>
                    <dd class="col-span-2">{me.display_name.clone()}</dd>
                    <dt class="text-slate-500">"Role"</dt>
                    <dd class="col-span-2">{me.role.label()}</dd>
                </dl>
                <h2 class="mb-4 mt-8 text-lg font-semibold">{if must_change { "Choose your own password" } else { "Change password" }}</h2>
                <ActionForm action=change attr:class="space-y-3">
                    <label class=LABEL>"Current password"<input class=INPUT type="password" name="current" autocomplete="current-password" required /></label>
                    <label class=LABEL>"New password (at least 12 characters)"<input class=INPUT type="password" name="new" autocomplete="new-password" required /></label>
                    <label class=LABEL>"Repeat the new password"<input class=INPUT type="password" name="confirm" autocomplete="new-password" required /></label>
                    <button class=BUTTON type="submit">"Change password"</button>
                </ActionForm>
                <FormError value=change.value() />
                <FormDone value=change.value() message="Password changed. Your other sessions have ended." />
            </div>
            <Totp me />
        </div>
    }
}

#[component]
fn Totp(me: Profile) -> impl IntoView {
    let begin = ServerAction::<TotpBegin>::new();
    let confirm = ServerAction::<TotpConfirm>::new();
    let remove = ServerAction::<TotpRemove>::new();
    let renew = ServerAction::<RenewRecoveryCodes>::new();
    Effect::new(move |_| {
        if matches!(remove.value().get(), Some(Ok(()))) {
            reload_to("/account");
        }
    });
    let enrolled = me.totp_enrolled;
    view! {
        <div class=CARD>
            <h2 class="mb-2 text-lg font-semibold">"Two-factor authentication (TOTP)"</h2>
            {(me.hold == Some(Hold::EnrolTotp)).then(|| view! {
                <p role="alert" class="mb-4 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
                    "Your role requires TOTP. Set it up to continue using Rekey."
                </p>
            })}
            {move || confirm.value().get().and_then(Result::ok).map(|codes| view! {
                <RecoveryCodesShown codes after="/account" />
            })}
            <Show
                when=move || enrolled
                fallback=move || view! {
                    <Show when=move || !matches!(confirm.value().get(), Some(Ok(_)))>
                        <p class="mb-4 text-sm text-slate-600">"TOTP is not set up. Confirm your password, scan the QR code with an authenticator app, then confirm with a code."</p>
                        <Show when=move || !matches!(begin.value().get(), Some(Ok(_)))>
                            <ActionForm action=begin attr:class="space-y-3">
                                <label class=LABEL>"Current password"<input class=INPUT type="password" name="current" autocomplete="current-password" required /></label>
                                <button class=BUTTON type="submit">"Set up TOTP"</button>
                            </ActionForm>
                        </Show>
                        <FormError value=begin.value() />
                        {move || begin.value().get().and_then(Result::ok).map(|enrolment| view! {
                            <div class="mt-4 space-y-3">
                                <div class="w-52 rounded border border-slate-200 bg-white p-2" aria-label="TOTP QR code" inner_html=enrolment.qr_svg></div>
                                <p class="text-xs text-slate-500">"Or enter this URI in your app:"</p>
                                <code data-testid="otpauth-uri" class="block break-all rounded bg-slate-100 p-2 text-xs">{enrolment.otpauth_uri}</code>
                                <ActionForm action=confirm attr:class="space-y-3">
                                    <label class=LABEL>"Current password, again"<input class=INPUT type="password" name="current" autocomplete="current-password" required /></label>
                                    <label class=LABEL>"Code from the app"<input class=INPUT name="code" inputmode="numeric" autocomplete="one-time-code" required /></label>
                                    <button class=BUTTON type="submit">"Confirm and enable"</button>
                                </ActionForm>
                                <FormError value=confirm.value() />
                            </div>
                        })}
                    </Show>
                }
            >
                <p class="mb-4 text-sm text-emerald-700">"TOTP is enabled. You will be asked for a code when you sign in; a recovery code works once in its place."</p>
                <ActionForm action=remove attr:class="space-y-3">
                    <label class=LABEL>"Password"<input class=INPUT type="password" name="current" autocomplete="current-password" required /></label>
                    <label class=LABEL>"Code from the app, or a recovery code"<input class=INPUT name="code" autocomplete="one-time-code" required /></label>
                    <button class=BUTTON_DANGER type="submit">"Remove TOTP"</button>
                </ActionForm>
                <FormError value=remove.value() />
                <details class="mt-6">
                    <summary class="cursor-pointer text-sm font-medium text-slate-700">"New recovery codes"</summary>
                    <ActionForm action=renew attr:class="mt-3 space-y-3">
                        <label class=LABEL>"Password"<input class=INPUT type="password" name="current" autocomplete="current-password" required /></label>
                        <label class=LABEL>"Code from the app"<input class=INPUT name="code" autocomplete="one-time-code" required /></label>
                        <button class=BUTTON_QUIET type="submit">"Make new recovery codes"</button>
                    </ActionForm>
                    <FormError value=renew.value() />
                    {move || renew.value().get().and_then(Result::ok).map(|codes| view! {
                        <RecoveryCodesShown codes after="/account" />
                    })}
                </details>
            </Show>
        </div>
    }
}

/// Recovery codes, shown this once.
#[component]
fn RecoveryCodesShown(codes: RecoveryCodes, after: &'static str) -> impl IntoView {
    view! {
        <section aria-label="Recovery codes" class="mb-4 rounded-md border border-emerald-200 bg-emerald-50 p-4">
            <h3 class="font-semibold text-emerald-900">"Your recovery codes"</h3>
            <p class="mb-3 text-sm text-emerald-900">
                "Each works once instead of a code from your app, if you lose it. Store them somewhere safe now: Rekey keeps only their hashes and will not show them again."
            </p>
            <ul class="grid grid-cols-2 gap-1 font-mono text-sm" data-testid="recovery-codes">
                {codes.0.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}
            </ul>
            <button class=format!("{BUTTON} mt-4") type="button" on:click=move |_| reload_to(after)>"I have stored them"</button>
        </section>
    }
}
