//! A person's own account: password and TOTP enrolment.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::auth::{Profile, use_me};
use crate::components::{
    BUTTON, BUTTON_DANGER, CARD, FormDone, FormError, INPUT, LABEL, LoadError, Page, reload_to,
};
use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::auth::session;

#[server(endpoint = "account/change_password")]
pub async fn change_password(
    current: String,
    new: String,
    confirm: String,
) -> Result<(), AppError> {
    use rekey_core::password::Password;
    let (who, _) = session::authorize::<ChangePassword>().await?;
    let rk = session::rekey()?;
    let current =
        Password::for_login(current).map_err(|e| AppError::invalid("current", e.message))?;
    if new != confirm {
        return Err(AppError::invalid(
            "confirm",
            "the new password and its confirmation differ",
        ));
    }
    let new = Password::new_choice(new)?;
    let user =
        rekey_core::users::change_password(&rk, session::own_id(&who)?, &current, &new).await?;
    session::keep_signed_in(user).await
}

/// A TOTP secret offered for enrolment: the QR code and the URI it encodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    pub qr_svg: String,
    pub otpauth_uri: String,
}

/// Draws a new secret and keeps it in the session until a code confirms it.
#[server(endpoint = "account/totp_begin")]
pub async fn totp_begin() -> Result<Enrolment, AppError> {
    use rekey_core::totp::{self, TotpSecret};
    let (who, _) = session::authorize::<TotpBegin>().await?;
    let secret = TotpSecret::generate();
    let uri = secret.otpauth_uri(who.name().as_str());
    session::session()
        .await?
        .insert(session::keys::TOTP_ENROLMENT, secret.base32())
        .await
        .map_err(|_| AppError::Internal {
            reference: "session".into(),
        })?;
    Ok(Enrolment {
        qr_svg: totp::qr_svg(&uri),
        otpauth_uri: uri,
    })
}

#[server(endpoint = "account/totp_confirm")]
pub async fn totp_confirm(code: String) -> Result<(), AppError> {
    use rekey_core::totp::{self, CodeRejected, TotpSecret};
    let (who, _) = session::authorize::<TotpConfirm>().await?;
    let rk = session::rekey()?;
    let s = session::session().await?;
    let pending: Option<String> =
        s.get(session::keys::TOTP_ENROLMENT)
            .await
            .map_err(|_| AppError::Internal {
                reference: "session".into(),
            })?;
    let Some(pending) = pending else {
        return Err(AppError::Refused("start the TOTP set-up again".into()));
    };
    let secret = TotpSecret::from_base32(&pending)?;
    let step = totp::verify(&secret, &code, rk.now(), 0).map_err(|e| match e {
        CodeRejected::Malformed => AppError::invalid("code", "a code is 6 digits"),
        _ => AppError::invalid(
            "code",
            "the code does not match; check your authenticator app's time and try the next code",
        ),
    })?;
    let user = rekey_core::users::enrol_totp(&rk, session::own_id(&who)?, &secret, step).await?;
    let _ = s.remove::<String>(session::keys::TOTP_ENROLMENT).await;
    session::keep_signed_in(user).await
}

#[server(endpoint = "account/totp_remove")]
pub async fn totp_remove(current: String) -> Result<(), AppError> {
    use rekey_core::password::Password;
    let (who, _) = session::authorize::<TotpRemove>().await?;
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
    let current =
        Password::for_login(current).map_err(|e| AppError::invalid("current", e.message))?;
    let user = rekey_core::users::remove_totp(&rk, session::own_id(&who)?, &current).await?;
    session::keep_signed_in(user).await
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
    view! {
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
                <h2 class="mb-4 mt-8 text-lg font-semibold">"Change password"</h2>
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
    Effect::new(move |_| {
        if matches!(confirm.value().get(), Some(Ok(())))
            || matches!(remove.value().get(), Some(Ok(())))
        {
            reload_to("/account");
        }
    });
    let enrolled = me.totp_enrolled;
    view! {
        <div class=CARD>
            <h2 class="mb-2 text-lg font-semibold">"Two-factor authentication (TOTP)"</h2>
            {me.must_enrol_totp.then(|| view! {
                <p role="alert" class="mb-4 rounded-md border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900">
                    "Your role requires TOTP. Set it up to continue using Rekey."
                </p>
            })}
            <Show
                when=move || enrolled
                fallback=move || view! {
                    <p class="mb-4 text-sm text-slate-600">"TOTP is not set up. Scan a QR code with an authenticator app, then confirm with a code."</p>
                    <Show when=move || !matches!(begin.value().get(), Some(Ok(_)))>
                        <ActionForm action=begin>
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
                                <label class=LABEL>"Code from the app"<input class=INPUT name="code" inputmode="numeric" autocomplete="one-time-code" required /></label>
                                <button class=BUTTON type="submit">"Confirm and enable"</button>
                            </ActionForm>
                            <FormError value=confirm.value() />
                        </div>
                    })}
                }
            >
                <p class="mb-4 text-sm text-emerald-700">"TOTP is enabled. You will be asked for a code when you sign in."</p>
                <ActionForm action=remove attr:class="space-y-3">
                    <label class=LABEL>"Password, to remove TOTP"<input class=INPUT type="password" name="current" autocomplete="current-password" required /></label>
                    <button class=BUTTON_DANGER type="submit">"Remove TOTP"</button>
                </ActionForm>
                <FormError value=remove.value() />
            </Show>
        </div>
    }
}
