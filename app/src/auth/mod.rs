//! Signing in and out, and who is signed in.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use rekey_core::identity::{Permission, Role};
use serde::{Deserialize, Serialize};

use crate::components::{BUTTON, CARD, FormError, INPUT, LABEL, reload_to};
use crate::error::AppError;

#[cfg(feature = "ssr")]
pub mod session;

/// The signed-in person, as the pages need them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub permissions: Vec<Permission>,
    pub totp_enrolled: bool,
    pub must_enrol_totp: bool,
}

impl Profile {
    pub fn may(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }
}

/// Who is signed in, or nobody.
#[server(endpoint = "auth/me")]
pub async fn me() -> Result<Option<Profile>, AppError> {
    use rekey_core::identity::Identity;
    let caller = session::caller().await?;
    let Some(Identity::User { id, .. }) = caller.identity else {
        return Ok(None);
    };
    let rk = session::rekey()?;
    let Some(user) = rekey_core::users::get(&rk.db, id).await? else {
        return Ok(None);
    };
    Ok(Some(Profile {
        permissions: Permission::ALL
            .into_iter()
            .filter(|p| rekey_core::identity::role_grants(user.role, *p))
            .collect(),
        username: user.username.to_string(),
        display_name: user.display_name,
        role: user.role,
        totp_enrolled: user.totp_enrolled,
        must_enrol_totp: caller.must_enrol_totp,
    }))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoginStep {
    SignedIn,
    TotpRequired,
}

/// First step of signing in.
#[server(endpoint = "auth/login")]
pub async fn login(username: String, password: String) -> Result<LoginStep, AppError> {
    use rekey_core::login::{self, PasswordOutcome};
    use rekey_core::password::Password;
    let caller = session::caller().await?;
    let rk = session::rekey()?;
    let password = Password::for_login(password)?;
    match login::with_password(&rk, &username, &password, caller.address).await? {
        PasswordOutcome::SignedIn(user) => {
            session::sign_in(user, rk.now()).await?;
            Ok(LoginStep::SignedIn)
        }
        PasswordOutcome::TotpRequired(user) => {
            let pending = session::PendingTotp {
                user: user.id.get(),
                at: rk.now().as_micros(),
            };
            let s = session::session().await?;
            s.cycle_id().await.map_err(|_| AppError::Internal {
                reference: "session".into(),
            })?;
            s.insert(session::keys::PENDING_TOTP, pending)
                .await
                .map_err(|_| AppError::Internal {
                    reference: "session".into(),
                })?;
            Ok(LoginStep::TotpRequired)
        }
    }
}

/// Second step: the TOTP code.
#[server(endpoint = "auth/login_totp")]
pub async fn login_totp(code: String) -> Result<(), AppError> {
    use rekey_core::clock::Timestamp;
    use rekey_core::identity::UserId;
    let caller = session::caller().await?;
    let rk = session::rekey()?;
    let s = session::session().await?;
    let pending: Option<session::PendingTotp> =
        s.get(session::keys::PENDING_TOTP)
            .await
            .map_err(|_| AppError::Internal {
                reference: "session".into(),
            })?;
    let Some(pending) = pending else {
        return Err(AppError::Unauthenticated(
            "enter your username and password first".into(),
        ));
    };
    if rk.now().secs_since(Timestamp::from_micros(pending.at)) > session::PENDING_TOTP_SECS {
        let _ = s
            .remove::<session::PendingTotp>(session::keys::PENDING_TOTP)
            .await;
        return Err(AppError::Unauthenticated(
            "the sign-in took too long; enter your password again".into(),
        ));
    }
    let user =
        rekey_core::login::with_totp(&rk, UserId::new(pending.user), &code, caller.address).await?;
    session::sign_in(user, rk.now()).await
}

#[server(endpoint = "auth/logout")]
pub async fn logout() -> Result<(), AppError> {
    let (who, _) = session::authorize::<Logout>().await?;
    let rk = session::rekey()?;
    if let Some(user) = rekey_core::users::get(&rk.db, session::own_id(&who)?).await? {
        rekey_core::login::signed_out(&rk, &user).await?;
    }
    session::sign_out().await
}

/// The signed-in person, loaded once per page load and shared by the shell and the pages.
#[derive(Clone, Copy)]
pub struct CurrentUser(pub Resource<Result<Option<Profile>, AppError>>);

pub fn use_me() -> CurrentUser {
    expect_context::<CurrentUser>()
}

/// Only `/`-relative targets, so a crafted link cannot send a person elsewhere after sign-in.
fn safe_next(next: Option<String>) -> String {
    next.filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\"))
        .unwrap_or_else(|| "/".into())
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let totp = ServerAction::<LoginTotp>::new();
    let query = use_query_map();
    let next = move || safe_next(query.read_untracked().get("next"));

    Effect::new(move |_| {
        let signed_in = matches!(login.value().get(), Some(Ok(LoginStep::SignedIn)))
            || matches!(totp.value().get(), Some(Ok(())));
        if signed_in {
            reload_to(&next());
        }
    });
    let needs_code = move || matches!(login.value().get(), Some(Ok(LoginStep::TotpRequired)));

    view! {
        <leptos_meta::Title text="Sign in · Rekey" />
        <section class="mx-auto mt-16 max-w-sm px-4">
            <div class=CARD>
                <h1 class="mb-1 text-xl font-bold text-slate-900">"Sign in to Rekey"</h1>
                <p class="mb-6 text-sm text-slate-500">"Credential rotation without the surprise."</p>
                <Show
                    when=needs_code
                    fallback=move || {
                        view! {
                            <ActionForm action=login attr:class="space-y-4">
                                <label class=LABEL>
                                    "Username"
                                    <input class=INPUT name="username" autocomplete="username" required autofocus />
                                </label>
                                <label class=LABEL>
                                    "Password"
                                    <input class=INPUT type="password" name="password" autocomplete="current-password" required />
                                </label>
                                <button class=format!("{BUTTON} w-full") type="submit" disabled=move || login.pending().get()>
                                    "Sign in"
                                </button>
                            </ActionForm>
                            <FormError value=login.value() />
                        }
                    }
                >
                    <ActionForm action=totp attr:class="space-y-4">
                        <label class=LABEL>
                            "Authentication code"
                            <input class=INPUT name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]*" required autofocus />
                        </label>
                        <p class="text-xs text-slate-500">"Enter the 6-digit code from your authenticator app."</p>
                        <button class=format!("{BUTTON} w-full") type="submit" disabled=move || totp.pending().get()>
                            "Verify"
                        </button>
                    </ActionForm>
                    <FormError value=totp.value() />
                </Show>
            </div>
        </section>
    }
}

/// The sign-out button in the header.
#[component]
pub fn SignOut() -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    Effect::new(move |_| {
        if matches!(logout.value().get(), Some(Ok(()))) {
            reload_to("/login");
        }
    });
    view! {
        <ActionForm action=logout>
            <button type="submit" class="rounded-md px-3 py-1.5 text-sm font-medium text-slate-200 hover:bg-slate-700 hover:text-white">
                "Sign out"
            </button>
        </ActionForm>
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/audit".into())), "/audit");
        assert_eq!(safe_next(Some("//evil.example".into())), "/");
        assert_eq!(safe_next(Some("https://evil.example".into())), "/");
        assert_eq!(safe_next(None), "/");
    }
}
